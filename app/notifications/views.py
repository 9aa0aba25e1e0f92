"""HTML pages."""

from app.notifications import bp  # noqa: F401
from app.notifications import models  # noqa: E402,F401
