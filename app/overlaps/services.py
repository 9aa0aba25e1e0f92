"""The overlap map: where submitted needs of several organizations meet, computed on the needs table in bulk."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.domain import overlaps as engine
from app.domain.bounds import FIRST_DAY, LAST_DAY
from app.domain.cpv import OVERLAP_LEVELS, PREFIX_LENGTH
from app.domain.procedures import BEFORE_THRESHOLDS
from app.errors import NotPermitted, ValidationFailed
from app.i18n import day as format_day
from app.needs.models import Need
from app.organizations.models import Organization
from app.reference.models import CpvCode

MAX_WINDOW_MONTHS = 60


@dataclass
class OverlapQuery:
    level: str = "class"
    window_months: int = 12
    window_start: date | None = None  # default: today

    def validated(self, today: date) -> OverlapQuery:
        reasons: dict[str, list[str]] = {}
        if self.level not in OVERLAP_LEVELS:
            reasons["level"] = [str(_l("The level is division, group, class or category."))]
        if not isinstance(self.window_months, int) or not 1 <= self.window_months <= MAX_WINDOW_MONTHS:
            reasons["window_months"] = [
                str(_l("The window is a whole number of months from 1 to %(n)d.", n=MAX_WINDOW_MONTHS))
            ]
        start = self.window_start or today
        first = engine.load_thresholds().first_covered_day()
        if start < first:
            reasons["from"] = [str(_l(BEFORE_THRESHOLDS, day=format_day(first)))]
        elif start > LAST_DAY:
            years = {"first": FIRST_DAY.year, "last": LAST_DAY.year}
            reasons["from"] = [str(_l("Give a date from %(first)s to %(last)s.", **years))]
        if reasons:
            raise ValidationFailed(reasons)
        return OverlapQuery(self.level, self.window_months, start)

    @property
    def window_end(self) -> date:
        """The last day inside the window."""
        return self.window_start + relativedelta(months=self.window_months) - relativedelta(days=1)


@dataclass
class OverlapReport:
    query: OverlapQuery
    overlaps: list[engine.Overlap]
    needs: pd.DataFrame  # id-indexed rows of the needs shown (title, organization, amounts, dates)
    warnings: list[engine.SplittingWarning] = field(default_factory=list)
    heatmap: pd.DataFrame = field(default_factory=pd.DataFrame)  # organizations × prefixes, cents
    labels: dict[str, str] = field(default_factory=dict)  # prefix → label


def _check_reader(actor) -> None:
    if actor.role not in ("coordinator", "admin", "buyer"):
        raise NotPermitted(str(_l("Overlaps are for buyers and coordinators.")))


def submitted_needs_frame(session: Session) -> pd.DataFrame:
    """Every submitted need in one query, amounts in integer cents (exact on SQLite and PostgreSQL).

    The rows are read straight from the database cursor as plain tuples (no ORM rows): at 100,000 needs the
    per-row overhead of result objects would cost more than the whole overlap computation.
    """
    stmt = sa.select(
        Need.id,
        Need.organization_id,
        Need.cpv_code,
        sa.cast(sa.func.round(Need.annual_amount * 100), sa.BigInteger).label("annual_cents"),
        Need.duration_months,
        Need.start_date,
        Need.current_contract_end,
    ).where(Need.status == "submitted")
    connection = session.connection()
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    columns = [
        "id",
        "organization_id",
        "cpv_code",
        "annual_cents",
        "duration_months",
        "start_date",
        "current_contract_end",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    organizations = session.execute(
        sa.select(Organization.id, Organization.code, Organization.is_central_government)
    ).all()
    codes = {org_id: code for org_id, code, _ in organizations}
    classes = {org_id: ("central" if central else "other") for org_id, _, central in organizations}
    frame["organization"] = frame["organization_id"].map(codes)
    frame["buyer_class"] = frame["organization_id"].map(classes)
    return frame


def _titles(session: Session, need_ids) -> dict[int, str]:
    ids = [int(i) for i in need_ids]
    if not ids:
        return {}
    return dict(session.execute(sa.select(Need.id, Need.title).where(Need.id.in_(ids))).all())


def _labels(session: Session, level: str, lang: str) -> dict[str, str]:
    """Labels of the codes that name a prefix of `level` (a prefix padded with zeros: class 1510 → 15100000,
    which the CPV files as a group because its fourth digit is zero)."""
    column = CpvCode.label_en if lang == "en" else CpvCode.label_fr
    length = PREFIX_LENGTH[level]
    padded = sa.func.substr(CpvCode.code, length + 1) == "0" * (8 - length)
    rows = session.execute(sa.select(CpvCode.code, column).where(padded)).all()
    return dict(rows)


def overlap_report(
    session: Session, actor, query: OverlapQuery, *, today: date, lang: str = "fr", detail: bool = True
) -> OverlapReport:
    """Overlaps at one CPV level in a window, with the procedures, splitting warnings and a heatmap.

    Buyers see only the overlaps (and warnings) that include their own organization. With `detail`, the
    report also carries the shown needs with their titles, the splitting warnings and the heatmap (pages);
    without, only the overlaps (the API list).
    """
    _check_reader(actor)
    query = query.validated(today)
    frame = submitted_needs_frame(session)
    labels = _labels(session, query.level, lang)
    if frame.empty:
        return OverlapReport(query=query, overlaps=[], needs=frame.set_index("id"))
    overlaps = engine.find_overlaps(
        frame, level=query.level, window_start=query.window_start, window_months=query.window_months, labels=labels
    )
    if actor.role == "buyer":
        own = session.scalar(sa.select(Organization.code).where(Organization.id == actor.organization_id))
        overlaps = [o for o in overlaps if own in o.organizations]
    if not detail:
        return OverlapReport(query=query, overlaps=overlaps, needs=frame.iloc[0:0].set_index("id"))
    warnings = engine.find_splitting_warnings(frame)
    in_window = engine.in_window(frame, query.window_start, query.window_months)
    if actor.role == "buyer":
        warnings = [w for w in warnings if w.organization == own]
        in_window = in_window.loc[
            in_window["cpv_code"].str[: PREFIX_LENGTH[query.level]].isin({o.cpv_prefix for o in overlaps})
        ]
    shown = {need_id for overlap in overlaps for need_id in overlap.need_ids}
    shown |= {need_id for warning in warnings for need_id in warning.need_ids}
    needs = engine.normalise_needs(frame.loc[frame["id"].isin(shown)]).set_index("id")
    needs = needs.assign(
        total_cents=engine.total_cents(needs["annual_cents"], needs["duration_months"]),
        title=needs.index.map(_titles(session, needs.index)),
    )
    heat = engine.heatmap(in_window, query.level) if not in_window.empty else pd.DataFrame()
    prefix_labels = {prefix: labels.get(prefix.ljust(8, "0"), "") for prefix in heat.columns}
    prefix_labels.update({o.cpv_prefix: o.label for o in overlaps})
    return OverlapReport(
        query=query, overlaps=overlaps, needs=needs, warnings=warnings, heatmap=heat, labels=prefix_labels
    )
