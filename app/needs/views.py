"""HTML pages for procurement needs."""

from app.needs import (
    bp,  # noqa: F401
    models,  # noqa: F401,E402
)
