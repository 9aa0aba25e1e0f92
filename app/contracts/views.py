"""Contract pages: the list, one contract with its orders, amendments and evaluation, and the renewal radar."""

from __future__ import annotations

from app.contracts import bp, models  # noqa: F401
