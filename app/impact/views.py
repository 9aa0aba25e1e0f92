"""The impact portfolio page and its printable report for the metropolitan council."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from app.accounts.auth import roles_required
from app.clock import paris_today
from app.domain import climate
from app.errors import ValidationFailed
from app.extensions import db
from app.forms import posted_int
from app.impact import bp, services

READERS = ("buyer", "coordinator", "admin")


def _year() -> int | None:
    """The year of past spend behind the local shares: a four-digit year, else all years (an unreadable one is
    refused by the service with its message)."""
    raw = (request.args.get("year") or "").strip()
    if not raw:
        return None
    year = posted_int(raw)
    return -1 if year is None else year


def _context():
    found = services.portfolio(db.session, current_user, year=_year(), today=paris_today())
    return {
        "portfolio": found,
        "stage_labels": services.STAGE_LABELS,
        "caveats": [gettext(text) for text in climate.CARBON_CAVEATS],
        "factors": services.physical_factors().values(),
        "today": paris_today(),
    }


def _render(template: str):
    try:
        context = _context()
    except ValidationFailed as error:
        db.session.rollback()
        flash(" ".join(m for messages in error.reasons.values() for m in messages), "warning")
        return redirect(url_for(request.endpoint))
    return render_template(template, **context)


@bp.get("/impact/portfolio")
@roles_required(*READERS)
def portfolio():
    return _render("impact/portfolio.html")


@bp.get("/impact/portfolio/report")
@roles_required(*READERS)
def portfolio_report():
    return _render("impact/report.html")
