"""HTML pages."""

from app.groups import bp  # noqa: F401
from app.groups import models  # noqa: E402,F401
