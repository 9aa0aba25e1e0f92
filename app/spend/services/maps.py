"""The category map: spend per CPV category at one level with its organizations, suppliers and concentration, the
pooling potential and the submitted needs beside it; and the drill-down to the lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.domain import impact
from app.domain.cpv import PREFIX_LENGTH
from app.errors import ValidationFailed
from app.needs.models import Need
from app.organizations.models import SupplierCompany
from app.spend.models import SpendLine
from app.spend.services.access import reader_scope
from app.spend.services.cube import (
    IN_BATCH,
    LEVELS,
    cells_frame,
    check_level,
    check_year,
    cpv_labels,
    euros,
    fetch_rows,
    grouped_sums,
    organization_codes,
)
from app.spend.services.impact import savings_assumptions


@dataclass
class CategoryRow:
    prefix: str
    label: str
    amount: Decimal
    lines: int
    suppliers: int
    organizations: tuple[str, ...]
    per_organization: dict[str, Decimal]
    needs_annual: Decimal  # submitted needs' yearly amounts (future), same prefix
    top_supplier: str | None
    top_share: float | None
    hhi: int | None
    savings_low: Decimal | None = None
    savings_high: Decimal | None = None
    savings_assumption: impact.SavingsAssumption | None = None

    @property
    def shared(self) -> bool:
        return len(self.organizations) >= 2


@dataclass
class SpendMap:
    level: str
    year: int | None
    parent: str | None
    organizations: list[str]
    years: list[int]
    rows: list[CategoryRow]
    total: Decimal
    lines: int
    suppliers: int
    pooling_potential: Decimal  # spend in categories where two organizations or more spend
    pooling_categories: int
    by_year: dict[int, dict[str, Decimal]]  # past spend: year -> organization -> euros
    needs_by_year: dict[int, dict[str, Decimal]]  # future needs: start year -> organization -> yearly euros
    heatmap: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # prefix -> organization -> euros
    supplier_names: dict[str, str] = field(default_factory=dict)


def _needs_frame(session: Session, scope: list[int] | None) -> pd.DataFrame:
    """Submitted needs as (organization, start year, cpv_code, annual cents), one aggregate query."""
    stmt = sa.select(
        Need.organization_id,
        Need.start_date,
        Need.cpv_code,
        sa.cast(sa.func.round(Need.annual_amount * 100), sa.BigInteger),
    ).where(Need.status == "submitted")
    if scope is not None:
        stmt = stmt.where(Need.organization_id.in_([int(i) for i in scope]))
    rows = fetch_rows(session, stmt)
    frame = pd.DataFrame(rows, columns=["organization_id", "start_date", "cpv_code", "cents"])
    frame = frame.assign(
        year=pd.to_datetime(frame["start_date"]).dt.year.astype("int64") if len(frame) else pd.Series(dtype="int64"),
        cents=frame["cents"].astype("int64"),
        organization=frame["organization_id"].map(organization_codes(session)).astype("object"),
    )
    return frame


def _supplier_names(session: Session, keys: Iterable[str]) -> dict[str, str]:
    """Display names of supplier keys: a registered company's name for a SIRET, else the key itself."""
    sirets = [k for k in set(keys) if k and k.isdigit() and len(k) == 14]
    names = {}
    for start in range(0, len(sirets), IN_BATCH):
        batch = sirets[start : start + IN_BATCH]
        query = sa.select(SupplierCompany.siret, SupplierCompany.name).where(SupplierCompany.siret.in_(batch))
        names.update((siret, name) for siret, name in session.execute(query))
    return names


def child_level(level: str) -> str | None:
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


def level_of_prefix(prefix: str) -> str:
    for level in LEVELS:
        if PREFIX_LENGTH[level] == len(prefix):
            return level
    raise ValidationFailed({"prefix": [str(_l("A CPV prefix has 2 to 5 digits."))]})


def _check_prefix(prefix: str | None) -> str | None:
    if not prefix:
        return None
    if not prefix.isdigit() or not 2 <= len(prefix) <= 5:
        raise ValidationFailed({"prefix": [str(_l("A CPV prefix has 2 to 5 digits."))]})
    return prefix


def spend_map(
    session: Session,
    actor,
    *,
    level: str = "division",
    organization: str | None = None,
    year=None,
    parent: str | None = None,
    lang: str = "fr",
    assumptions: impact.SavingsAssumptions | None = None,
) -> SpendMap:
    """The category map at one level (optionally below a parent prefix): spend per category with its
    organizations, suppliers and concentration, the pooling potential, and the submitted needs beside it."""
    level = check_level(level)
    year = check_year(year)
    parent = _check_prefix(parent)
    if parent and len(parent) > PREFIX_LENGTH[level]:
        raise ValidationFailed({"level": [str(_l("Choose a level below the prefix opened."))]})
    scope = reader_scope(session, actor, organization)
    assumptions = assumptions or savings_assumptions()
    frame = cells_frame(session, scope)
    years = sorted(int(y) for y in frame["year"].unique())
    by_year_frame = frame if parent is None else frame.loc[frame["cpv_prefix"].str.startswith(parent)]
    by_year = _pivot(by_year_frame, "year")
    if year is not None:
        frame = frame.loc[frame["year"] == year]
    if parent:
        frame = frame.loc[frame["cpv_prefix"].str.startswith(parent)]
    length = PREFIX_LENGTH[level]
    frame = frame.assign(prefix=frame["cpv_prefix"].str[:length])

    needs = _needs_frame(session, scope)
    if parent:
        needs = needs.loc[needs["cpv_code"].str.startswith(parent)]
    needs_by_year = _pivot(needs, "year")
    needs_in_year = needs if year is None else needs.loc[needs["year"] == year]
    needs_per_prefix = needs_in_year.groupby(needs_in_year["cpv_code"].str[:length])["cents"].sum()

    per_prefix = grouped_sums(frame, ["prefix"]).set_index("prefix") if not frame.empty else None
    per_org = frame.groupby(["prefix", "organization"])["cents"].sum() if not frame.empty else pd.Series(dtype="int64")
    conc = impact.concentration(frame[["prefix", "supplier_key", "cents"]]) if not frame.empty else None
    prefixes = sorted(set(per_prefix.index if per_prefix is not None else []) | set(needs_per_prefix.index))
    labels = cpv_labels(session, prefixes, lang)

    orgs_of: dict[str, dict[str, Decimal]] = {}
    for (prefix, org), cents in per_org.items():
        orgs_of.setdefault(prefix, {})[org] = euros(cents)
    spend_of = per_prefix.to_dict("index") if per_prefix is not None else {}
    concentration_of = conc.to_dict("index") if conc is not None else {}
    needs_of = needs_per_prefix.to_dict()
    rows = []
    for prefix in prefixes:
        spend = spend_of.get(prefix, {"cents": 0, "lines": 0, "suppliers": 0})
        concentration_row = concentration_of.get(prefix)
        organizations = tuple(sorted(orgs_of.get(prefix, {})))
        row = CategoryRow(
            prefix=prefix,
            label=labels.get(prefix, ""),
            amount=euros(spend["cents"]),
            lines=int(spend["lines"]),
            suppliers=int(spend["suppliers"]),
            organizations=organizations,
            per_organization=orgs_of.get(prefix, {}),
            needs_annual=euros(needs_of.get(prefix, 0)),
            top_supplier=None if concentration_row is None else str(concentration_row["top_supplier"]),
            top_share=None if concentration_row is None else float(concentration_row["top_share"]),
            hhi=None if concentration_row is None else int(concentration_row["hhi"]),
        )
        if row.shared:
            row.savings_low, row.savings_high, row.savings_assumption = impact.savings_range(
                row.amount / max(len(years), 1) if year is None else row.amount, prefix, assumptions
            )
        rows.append(row)
    rows.sort(key=lambda r: (-r.amount, -r.needs_annual, r.prefix))
    shared = [r for r in rows if r.shared]
    heat = {r.prefix: r.per_organization for r in rows if r.amount}
    known = frame.loc[frame["supplier_key"] != "", "supplier_key"]
    return SpendMap(
        level=level,
        year=year,
        parent=parent,
        organizations=sorted(set(frame["organization"].dropna()) | set(needs["organization"].dropna())),
        years=years,
        rows=rows,
        total=euros(frame["cents"].sum()),
        lines=int(frame["lines"].sum()),
        suppliers=int(known.nunique()),
        pooling_potential=sum((r.amount for r in shared), Decimal(0)),
        pooling_categories=len(shared),
        by_year=by_year,
        needs_by_year=needs_by_year,
        heatmap=heat,
        supplier_names=_supplier_names(session, [r.top_supplier for r in rows if r.top_supplier]),
    )


def _pivot(frame: pd.DataFrame, column: str) -> dict[int, dict[str, Decimal]]:
    if frame.empty:
        return {}
    sums = frame.groupby([column, "organization"])["cents"].sum()
    result: dict[int, dict[str, Decimal]] = {}
    for (key, org), cents in sums.items():
        result.setdefault(int(key), {})[org] = euros(cents)
    return dict(sorted(result.items()))


def lines_query(session: Session, actor, *, prefix: str, organization: str | None = None, year=None) -> sa.Select:
    """The spend lines below a CPV prefix, in the actor's scope, largest first (for a paginated drill-down)."""
    prefix = _check_prefix(prefix)
    year = check_year(year)
    scope = reader_scope(session, actor, organization)
    stmt = sa.select(SpendLine).where(SpendLine.cpv_code.startswith(prefix))
    if scope is not None:
        stmt = stmt.where(SpendLine.organization_id.in_(scope))
    if year is not None:
        stmt = stmt.where(SpendLine.year == year)
    return stmt.order_by(SpendLine.amount.desc(), SpendLine.id)
