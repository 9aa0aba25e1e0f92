"""HTML pages of the overlap map."""

from app.overlaps import bp  # noqa: F401
