"""HTML pages."""

from app.spend import bp  # noqa: F401
