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
from app.domain.cpv import OVERLAP_LEVELS, PREFIX_LENGTH
from app.errors import NotPermitted, ValidationFailed
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
        if start < date(2024, 1, 1):
            reasons["from"] = [str(_l("The procedure rules start on 1 January 2024: choose a later date."))]
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
    """Every submitted need in one query, amounts in integer cents (exact on SQLite and PostgreSQL)."""
    stmt = (
        sa.select(
            Need.id,
            Organization.code.label("organization"),
            sa.case((Organization.is_central_government, "central"), else_="other").label("buyer_class"),
            Need.cpv_code,
            sa.cast(sa.func.round(Need.annual_amount * 100), sa.BigInteger).label("annual_cents"),
            Need.duration_months,
            Need.start_date,
            Need.current_contract_end,
            Need.title,
        )
        .join(Organization, Need.organization_id == Organization.id)
        .where(Need.status == "submitted")
    )
    rows = session.execute(stmt).all()
    columns = [
        "id",
        "organization",
        "buyer_class",
        "cpv_code",
        "annual_cents",
        "duration_months",
        "start_date",
        "current_contract_end",
        "title",
    ]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    return frame


def _labels(session: Session, level: str, lang: str) -> dict[str, str]:
    column = CpvCode.label_en if lang == "en" else CpvCode.label_fr
    rows = session.execute(sa.select(CpvCode.code, column).where(CpvCode.level == level)).all()
    return dict(rows)


def overlap_report(session: Session, actor, query: OverlapQuery, *, today: date, lang: str = "fr") -> OverlapReport:
    """Overlaps at one CPV level in a window, with the procedures, splitting warnings and a heatmap.

    Buyers see only the overlaps (and warnings) that include their own organization.
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
    warnings = engine.find_splitting_warnings(frame)
    in_window = engine.in_window(frame, query.window_start, query.window_months)
    if actor.role == "buyer":
        own = session.scalar(sa.select(Organization.code).where(Organization.id == actor.organization_id))
        overlaps = [o for o in overlaps if own in o.organizations]
        warnings = [w for w in warnings if w.organization == own]
        in_window = in_window.loc[
            in_window["cpv_code"].str[: PREFIX_LENGTH[query.level]].isin({o.cpv_prefix for o in overlaps})
        ]
    shown = {need_id for overlap in overlaps for need_id in overlap.need_ids}
    shown |= {need_id for warning in warnings for need_id in warning.need_ids}
    needs = frame.loc[frame["id"].isin(shown)].set_index("id")
    needs = needs.assign(total_cents=engine.total_cents(needs["annual_cents"], needs["duration_months"]))
    heat = engine.heatmap(in_window, query.level) if not in_window.empty else pd.DataFrame()
    prefix_labels = {prefix: labels.get(prefix.ljust(8, "0"), "") for prefix in heat.columns}
    prefix_labels.update({o.cpv_prefix: o.label for o in overlaps})
    return OverlapReport(
        query=query, overlaps=overlaps, needs=needs, warnings=warnings, heatmap=heat, labels=prefix_labels
    )
