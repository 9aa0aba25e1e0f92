"""HTML pages."""

from app.notifications import (
    bp,  # noqa: F401
    models,  # noqa: E402,F401
)
