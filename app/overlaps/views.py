"""HTML pages of the overlap map, and its CSV / XLSX exports (same query, same permissions)."""

from __future__ import annotations

from functools import lru_cache

from babel.numbers import format_compact_decimal
from flask import Response, abort, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from app.accounts.auth import roles_required
from app.clock import paris_today
from app.contracts import services as contract_services
from app.domain.cpv import PREFIX_LENGTH
from app.domain.procedures import PROCEDURE_LABELS
from app.errors import ValidationFailed
from app.extensions import db
from app.forms import LEVEL_NAMES
from app.i18n import current_language
from app.impact.services import overlap_impacts
from app.overlaps import bp, exports, presenters
from app.overlaps.forms import OverlapQueryForm
from app.overlaps.services import (
    OverlapQuery,
    OverlapReport,
    find_overlaps,
    overlap_report,
    possible_overlaps,
    with_details,
)
from app.pagination import page_number, paginate_list
from app.remembered import remembered_html

READERS = ("coordinator", "admin", "buyer")
NEEDS_SHOWN = 10  # needs listed under each overlap, and splitting warnings listed (the needs list has them all)
OVERLAPS_PER_PAGE = 10  # each overlap shows its members (up to all organizations), its first needs, a heatmap column


def _report(form: OverlapQueryForm) -> tuple[OverlapQuery, OverlapReport]:
    """Parse the form, then ask the service; ValidationFailed for a query the user must correct."""
    today = paris_today()
    query = form.overlap_query(today)
    report = overlap_report(db.session, current_user, query, today=today, lang=current_language())
    return report.query, report


def _query_args(query: OverlapQuery) -> dict:
    return {"level": query.level, "window_months": query.window_months, "from": query.window_start.isoformat()}


@bp.get("/overlaps")
@roles_required(*READERS)
def overlap_map():
    form = OverlapQueryForm(formdata=request.args)
    today = paris_today()
    try:
        query, overlaps = find_overlaps(db.session, current_user, form.overlap_query(today), today=today)
    except ValidationFailed as error:
        db.session.rollback()
        problems = form.show_errors(error)
        return render_template("overlaps/map.html", form=form, invalid=True, problems=problems)

    form.level.data = query.level
    form.window_months.data = query.window_months
    form.start.data = query.window_start

    sort = presenters.sort_key(request.args.get("sort"))
    direction = presenters.sort_direction(sort, request.args.get("dir"))
    page = page_number()
    renewals = contract_services.renewal_counts(
        db.session, PREFIX_LENGTH[query.level], query.window_start, query.window_months
    )
    # The results: rendered once per reader, query, page and language, and remembered until the needs or the spend
    # change (their tokens) or the contracts ending in the window (counted on every request: one GROUP BY; part of
    # the key, as the window's start, which is today's date without `from`).
    results = remembered_html(
        ("needs", "spend"),
        "overlaps/_results.html",
        lambda: _results_context(query, overlaps, sort, direction, page, renewals),
        query.window_start,
        renewals.key(),
    )
    return render_template(
        "overlaps/map.html",
        form=form,
        invalid=False,
        query=query,
        query_args=_query_args(query),
        is_buyer=current_user.role == "buyer",
        results=results,
    )


def _results_context(query: OverlapQuery, overlaps, sort: str, direction: str, page: int, renewals) -> dict:
    """What the results part of the map shows for a page of overlaps: the summary and the order come from every
    overlap's aggregates; needs, labels, impacts and the heatmap are read for the page shown only."""
    lang = current_language()
    every = presenters.bare_rows(overlaps)
    pagination = paginate_list(presenters.sorted_rows(every, sort, direction), page, OVERLAPS_PER_PAGE)
    shown = [row.overlap for row in pagination.items]
    report = with_details(db.session, current_user, query, shown, lang=lang, warnings=True, limit=NEEDS_SHOWN)
    labels = report.labels
    needs = presenters.need_rows(report.needs)
    rows = presenters.overlap_rows(report.overlaps, needs, labels)
    thresholds = presenters.thresholds_in_force(query.window_start)
    args = _query_args(query)

    def sort_url(column: str) -> str:
        """Clicking the current sort column flips its direction; another column starts in its usual one."""
        if column == sort:
            flipped = "asc" if direction == "desc" else "desc"
            return url_for(".overlap_map", **args, sort=column, dir=flipped)
        return url_for(".overlap_map", **args, sort=column)

    def page_url(page: int) -> str:
        return url_for(".overlap_map", **args, sort=sort, dir=direction, page=page, _anchor="overlaps")

    return dict(
        query=query,
        level_name=LEVEL_NAMES[query.level],
        rows=rows,
        impacts=overlap_impacts(db.session, report.overlaps),
        pagination=pagination,
        page_url=page_url,
        summary=presenters.summary(every),
        heatmap=presenters.heatmap(report.heatmap, [r.overlap.cpv_prefix for r in rows], labels),
        warnings=presenters.warning_rows(report.warnings[:NEEDS_SHOWN], needs, labels),
        warning_count=len(report.warnings),
        needs_shown=NEEDS_SHOWN,
        possible=possible_overlaps(db.session, current_user, query, lang=lang),
        thresholds=thresholds,
        rules_date=presenters.latest_rule_date(thresholds),
        sort=sort,
        direction=direction,
        sort_url=sort_url,
        procedure_badges=presenters.PROCEDURE_BADGES,
        renewals=renewals,
        # translated once for the page: a page shows hundreds of badges (members × overlaps)
        procedure_short={code: str(label) for code, label in presenters.PROCEDURE_SHORT.items()},
        procedure_label=presenters.label_once(),
        heat_levels=presenters.HEAT_LEVELS,
        compact=_compact_amount,
        procedure_labels={code: _(label) for code, label in PROCEDURE_LABELS.items()},
        is_buyer=current_user.role == "buyer",
        linkable=_linkable,
    )


@bp.get("/overlaps/export.<fmt>")
@roles_required(*READERS)
def export_overlaps(fmt: str):
    if fmt not in exports.FORMATS:
        abort(404)
    form = OverlapQueryForm(formdata=request.args)
    try:
        query, report = _report(form)
    except ValidationFailed as error:
        db.session.rollback()
        reasons = [message for messages in error.reasons.values() for message in messages]
        return render_template("errors/400.html", status=400, message=" ".join(reasons)), 400

    lang = current_language()
    labels = report.labels
    needs = presenters.need_rows(report.needs)
    rows = presenters.overlap_rows(report.overlaps, needs, labels)  # the page's default order: total descending
    body = exports.overlaps_csv(rows, lang) if fmt == "csv" else exports.overlaps_xlsx(rows, lang)
    name = exports.filename(query.level, query.window_start, fmt)
    return Response(
        body,
        mimetype=exports.FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"},
    )


def _linkable(organization: str) -> bool:
    """Buyers may open only their own organization's needs: other needs are shown without a link."""
    if current_user.role != "buyer":
        return True
    own = current_user.organization
    return own is not None and own.code == organization


def _compact_amount(amount) -> str:
    """'8,2 M' / '8.2M', '881 k' / '881K': two significant figures at least, for the heatmap cells (the
    exact amount is in each cell's title)."""
    if amount is None:
        return ""
    return _compact(str(get_locale()), amount)


@lru_cache(maxsize=8192)
def _compact(locale: str, amount) -> str:
    value = abs(amount)
    mantissa = value / 1_000_000 if value >= 1_000_000 else value / 1_000 if value >= 1_000 else value
    digits = 1 if mantissa < 10 else 0
    return format_compact_decimal(amount, locale=locale, fraction_digits=digits)
