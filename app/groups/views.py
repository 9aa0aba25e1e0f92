"""HTML pages."""

from app.groups import (
    bp,  # noqa: F401
    models,  # noqa: E402,F401
)
