"""HTML pages."""

from app.notifications import bp  # noqa: F401
