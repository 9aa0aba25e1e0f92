"""HTML pages."""

from app.groups import bp  # noqa: F401
