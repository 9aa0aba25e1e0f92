"""The one clock of the app: instants are timezone-aware UTC (`utcnow`); "today" is the date in Europe/Paris, where
the buyers are (`paris_today`), whatever the server's time zone. Pages, API, jobs, services and demo data all ask
here, so a test that moves the clock moves it everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def utcnow() -> datetime:
    return datetime.now(UTC)


def paris_today() -> date:
    return utcnow().astimezone(PARIS).date()
