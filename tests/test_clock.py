"""One clock: every part of the app (pages, API, jobs, services, demo data) asks app.clock for the time and for today
in Europe/Paris, never the server's own time zone."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path

import time_machine

from app.clock import PARIS, paris_today, utcnow

APP = Path(__file__).resolve().parent.parent / "app"
READS_THE_CLOCK = {("date", "today"), ("datetime", "now"), ("datetime", "today"), ("datetime", "utcnow")}


def _clock_reads(path: Path) -> list[str]:
    """`date.today()`, `datetime.now()`… and `ZoneInfo(...)` calls in a module, as 'file:line what'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value.attr if isinstance(func.value, ast.Attribute) else getattr(func.value, "id", None)
            call = (owner, func.attr)
        else:
            call = (None, getattr(func, "id", None))
        if call in READS_THE_CLOCK or call[1] == "ZoneInfo":
            found.append(f"{path.relative_to(APP.parent)}:{node.lineno} {'.'.join(filter(None, call))}()")
    return found


def test_only_the_clock_module_reads_the_clock_or_names_a_time_zone():
    reads = [read for path in sorted(APP.rglob("*.py")) if path.name != "clock.py" for read in _clock_reads(path)]
    assert reads == [], "use app.clock.utcnow() / paris_today() / PARIS: " + "; ".join(reads)
    assert _clock_reads(APP / "clock.py"), "the check itself finds the clock module's reads"


def test_today_is_the_date_in_paris_and_now_is_aware_utc():
    with time_machine.travel(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), tick=False):
        assert paris_today() == date(2027, 1, 1)  # already the new year in Paris (UTC+1)
        assert utcnow() == datetime(2026, 12, 31, 23, 30, tzinfo=UTC) and utcnow().tzinfo is UTC
    assert str(PARIS) == "Europe/Paris"
