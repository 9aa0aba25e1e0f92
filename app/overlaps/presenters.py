"""What the overlap map and its exports show, built from one OverlapReport.

Everything here works on the report's dataclasses and DataFrames (never on ORM objects): the needs arrive as
one id-indexed DataFrame, the heatmap as an organizations × prefixes DataFrame in cents. The only query is the
optional look-up of CPV labels the report left empty (one query, whatever the number of needs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import pandas as pd
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app.domain.overlaps import Overlap, SplittingWarning
from app.domain.procedures import ProcedureRequirement, load_thresholds
from app.i18n import number
from app.overlaps.services import pooling_effect

# Bootstrap badge classes and short names of the procedures; the full label (a msgid) goes in the tooltip.
PROCEDURE_BADGES = {"none": "proc-none", "adapted": "proc-adapted", "formal": "proc-formal"}
PROCEDURE_SHORT = {"none": _l("No publicity"), "adapted": _l("MAPA"), "formal": _l("Formal")}

SORTS = ("total", "annual", "organizations", "prefix")
DEFAULT_SORT = "total"
DEFAULT_DIRECTIONS = {"total": "desc", "annual": "desc", "organizations": "desc", "prefix": "asc"}
HEAT_LEVELS = 5


def euros(cents) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _day(value) -> date | None:
    if value is None or pd.isna(value):  # None, NaN, NaT
        return None
    if isinstance(value, datetime):  # also pandas.Timestamp
        return value.date()
    return value


# --------------------------------------------------------------------------- needs and labels


@dataclass(frozen=True)
class NeedRow:
    id: int
    title: str
    organization: str
    cpv_code: str
    annual: Decimal
    total: Decimal
    start_date: date | None
    contract_end: date | None
    duration_months: int


def need_rows(needs: pd.DataFrame) -> dict[int, NeedRow]:
    """The report's needs by id, amounts in euros (column-wise conversion, one pass to build the rows)."""
    if needs.empty:
        return {}
    totals = needs["total_cents"] if "total_cents" in needs.columns else needs["annual_cents"] * 0
    columns = zip(
        needs.index.tolist(),
        needs["title"].tolist(),
        needs["organization"].tolist(),
        needs["cpv_code"].tolist(),
        needs["annual_cents"].tolist(),
        totals.tolist(),
        needs["start_date"].tolist(),
        needs["current_contract_end"].tolist(),
        needs["duration_months"].tolist(),
        strict=True,
    )
    return {
        int(need_id): NeedRow(
            id=int(need_id),
            title=str(title),
            organization=str(organization),
            cpv_code=str(cpv_code),
            annual=euros(annual),
            total=euros(total),
            start_date=_day(start),
            contract_end=_day(end),
            duration_months=int(months),
        )
        for need_id, title, organization, cpv_code, annual, total, start, end, months in columns
    }


# --------------------------------------------------------------------------- overlaps


@dataclass(frozen=True)
class MemberRow:
    organization: str
    annual: Decimal
    total: Decimal
    procedure: ProcedureRequirement


@dataclass(frozen=True)
class OverlapRow:
    overlap: Overlap
    label: str
    members: list[MemberRow]
    needs: list[NeedRow]

    @property
    def pooling_effect(self) -> bool:
        return pooling_effect(self.overlap)

    @property
    def anchor(self) -> str:
        return f"overlap-{self.overlap.cpv_prefix}"


def overlap_rows(overlaps: Sequence[Overlap], needs: dict[int, NeedRow], labels: dict[str, str]) -> list[OverlapRow]:
    rows = []
    for overlap in overlaps:
        members = [
            MemberRow(org, *overlap.per_organization[org], procedure=overlap.procedure_alone[org])
            for org in overlap.organizations
        ]
        shown = [needs[i] for i in overlap.need_ids if i in needs]
        shown.sort(key=lambda n: (n.organization, n.start_date or date.min, n.id))
        rows.append(OverlapRow(overlap=overlap, label=labels.get(overlap.cpv_prefix, ""), members=members, needs=shown))
    return rows


def bare_rows(overlaps: Sequence[Overlap]) -> list[OverlapRow]:
    """Rows to sort, count and sum every overlap by (their members, needs and labels are built for a page only)."""
    return [OverlapRow(overlap=overlap, label="", members=[], needs=[]) for overlap in overlaps]


def sort_key(sort: str | None) -> str:
    return sort if sort in SORTS else DEFAULT_SORT


def sort_direction(sort: str, direction: str | None) -> str:
    return direction if direction in ("asc", "desc") else DEFAULT_DIRECTIONS[sort]


def sorted_rows(rows: Iterable[OverlapRow], sort: str, direction: str) -> list[OverlapRow]:
    """Sorted by one column; ties stay in prefix order whatever the direction (Python's sort is stable)."""
    keys = {
        "total": lambda r: r.overlap.total_amount,
        "annual": lambda r: r.overlap.annual_amount,
        "organizations": lambda r: len(r.overlap.organizations),
        "prefix": lambda r: r.overlap.cpv_prefix,
    }
    by_prefix = sorted(rows, key=lambda r: r.overlap.cpv_prefix)
    return sorted(by_prefix, key=keys[sort], reverse=direction == "desc")


@dataclass(frozen=True)
class Summary:
    count: int
    total: Decimal
    annual: Decimal
    pooling_count: int
    organizations: tuple[str, ...]


def summary(rows: Sequence[OverlapRow]) -> Summary:
    return Summary(
        count=len(rows),
        total=sum((r.overlap.total_amount for r in rows), Decimal("0.00")),
        annual=sum((r.overlap.annual_amount for r in rows), Decimal("0.00")),
        pooling_count=sum(1 for r in rows if r.pooling_effect),
        organizations=tuple(sorted({org for r in rows for org in r.overlap.organizations})),
    )


# --------------------------------------------------------------------------- heatmap


@dataclass(frozen=True)
class HeatCell:
    prefix: str
    amount: Decimal | None  # None when the organization has nothing under the prefix
    level: int  # 0 (empty) to HEAT_LEVELS (the largest cell)


@dataclass(frozen=True)
class HeatRow:
    organization: str
    cells: list[HeatCell]
    total: Decimal


@dataclass(frozen=True)
class Heatmap:
    prefixes: list[str]
    rows: list[HeatRow]
    column_totals: list[Decimal]
    total: Decimal
    labels: dict[str, str] = field(default_factory=dict)


def heatmap(heat: pd.DataFrame, prefixes: Iterable[str], labels: dict[str, str]) -> Heatmap | None:
    """The organizations × prefixes table restricted to the overlapping prefixes, columns by total descending.

    Each cell gets an intensity level from 1 to HEAT_LEVELS proportional to its amount (the largest cell of
    the table is HEAT_LEVELS), computed on the whole matrix at once.
    """
    wanted = set(prefixes)
    columns = [p for p in heat.columns if p in wanted]
    if heat.empty or not columns:
        return None
    table = heat.loc[:, columns]
    table = table.loc[table.sum(axis=1) > 0]
    order = table.sum(axis=0).sort_values(ascending=False, kind="stable").index  # ties stay in prefix order
    table = table.loc[:, order].astype("int64")
    values = table.to_numpy()
    top = int(values.max()) or 1
    levels = (values * HEAT_LEVELS + top - 1) // top  # ceiling: any positive amount is at least level 1
    prefixes_shown = [str(p) for p in table.columns]
    rows = [
        HeatRow(
            organization=str(org),
            cells=[
                HeatCell(prefix, euros(cents) if cents else None, int(level))
                for prefix, cents, level in zip(prefixes_shown, cents_row, level_row, strict=True)
            ],
            total=euros(sum(cents_row)),
        )
        for org, cents_row, level_row in zip(table.index.tolist(), values.tolist(), levels.tolist(), strict=True)
    ]
    column_totals = [euros(c) for c in table.sum(axis=0).tolist()]
    return Heatmap(
        prefixes=prefixes_shown,
        rows=rows,
        column_totals=column_totals,
        total=euros(int(values.sum())),
        labels={p: labels.get(p, "") for p in prefixes_shown},
    )


# --------------------------------------------------------------------------- splitting warnings


@dataclass(frozen=True)
class WarningRow:
    warning: SplittingWarning
    label: str
    needs: list[NeedRow]
    message: str


def render_warning(warning: SplittingWarning) -> str:
    """The domain's msgid, translated, with its amounts in the reader's number format (the € is in the text)."""
    params = dict(warning.message_params)
    params["threshold"] = number(warning.threshold, 2)
    params["total"] = number(warning.total_amount, 2)
    return gettext(warning.message) % params


def warning_rows(
    warnings: Sequence[SplittingWarning], needs: dict[int, NeedRow], labels: dict[str, str]
) -> list[WarningRow]:
    return [
        WarningRow(
            warning=w,
            label=labels.get(w.cpv_prefix, ""),
            needs=[needs[i] for i in w.need_ids if i in needs],
            message=render_warning(w),
        )
        for w in warnings
    ]


# --------------------------------------------------------------------------- procedure rules


@dataclass(frozen=True)
class ThresholdRow:
    scope: str
    requirement: ProcedureRequirement


THRESHOLD_SCOPES = (
    ("supplies_services", "other", _l("Supplies and services — local authorities, hospitals and other buyers")),
    ("supplies_services", "central", _l("Supplies and services — central government authorities")),
    ("works", "other", _l("Works — all buyers")),
)


def thresholds_in_force(on: date) -> list[ThresholdRow]:
    """The pairs of thresholds applied to the window's start date, as the overlap engine applies them."""
    table = load_thresholds()
    return [
        ThresholdRow(str(scope), table.applicable(on, nature=nature, buyer_class=buyer_class).requirement("none"))
        for nature, buyer_class, scope in THRESHOLD_SCOPES
    ]


def latest_rule_date(rows: Sequence[ThresholdRow]) -> date | None:
    return max((r.requirement.rule_valid_from for r in rows), default=None)


def procedure_label(requirement: ProcedureRequirement) -> str:
    return gettext(requirement.label)


def label_once():
    """procedure_label for one page: each label translated once, however many badges show it."""
    translated: dict[str, str] = {}

    def label(requirement: ProcedureRequirement) -> str:
        if requirement.label not in translated:
            translated[requirement.label] = procedure_label(requirement)
        return translated[requirement.label]

    return label
