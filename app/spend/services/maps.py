"""The category map: spend per CPV category at one level with its organizations, suppliers and concentration, the
pooling potential and the submitted needs beside it; and the drill-down to the lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.domain import impact
from app.domain.cpv import PREFIX_LENGTH
from app.errors import ValidationFailed
from app.needs.models import Need
from app.organizations.models import Organization, SupplierCompany
from app.spend.models import SpendCell, SpendLine
from app.spend.services.access import reader_scope
from app.spend.services.cube import (
    CELL_CENTS,
    IN_BATCH,
    LEVELS,
    check_level,
    check_year,
    cpv_labels,
    euros,
    in_scope,
)
from app.spend.services.impact import savings_assumptions

NEED_CENTS = sa.cast(sa.func.round(Need.annual_amount * 100), sa.BigInteger)
NEED_YEAR = sa.extract("year", Need.start_date)


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


def _cell_filter(stmt: sa.Select, scope: list[int] | None, year: int | None, parent: str | None) -> sa.Select:
    stmt = in_scope(stmt, scope, year)
    return stmt.where(SpendCell.cpv_prefix.startswith(parent)) if parent else stmt


def _need_filter(stmt: sa.Select, scope: list[int] | None, year: int | None, parent: str | None) -> sa.Select:
    stmt = stmt.where(Need.status == "submitted")
    if scope is not None:
        stmt = stmt.where(Need.organization_id.in_([int(i) for i in scope]))
    if year is not None:
        stmt = stmt.where(sa.extract("year", Need.start_date) == year)
    return stmt.where(Need.cpv_code.startswith(parent)) if parent else stmt


def _pivot(rows) -> dict[int, dict[str, Decimal]]:
    """(year, organization code, cents) rows as year -> organization -> euros, years in order."""
    result: dict[int, dict[str, Decimal]] = {}
    for key, org, cents in rows:
        result.setdefault(int(key), {})[org] = euros(cents)
    return dict(sorted(result.items()))


def _concentration(session: Session, prefix, cells: sa.Select) -> dict[str, tuple[str, float, int]]:
    """prefix -> (top supplier, its share of the known-supplier spend, HHI 0-10,000), from one SQL GROUP BY with
    window functions over the per-supplier sums (cells without a known supplier cannot be attributed)."""
    per_supplier = (
        cells.with_only_columns(
            prefix.label("prefix"), SpendCell.supplier_key.label("supplier"), sa.func.sum(CELL_CENTS).label("cents")
        )
        .where(SpendCell.supplier_key != "")
        .group_by(prefix, SpendCell.supplier_key)
        .subquery()
    )
    ranked = sa.select(
        per_supplier.c.prefix,
        per_supplier.c.supplier,
        per_supplier.c.cents,
        (
            sa.cast(per_supplier.c.cents, sa.Float)
            / sa.func.sum(per_supplier.c.cents).over(partition_by=per_supplier.c.prefix)
        ).label("share"),
        sa.func.row_number()
        .over(
            partition_by=per_supplier.c.prefix,
            order_by=(per_supplier.c.cents.desc(), per_supplier.c.supplier),
        )
        .label("rank"),
    ).subquery()
    top = sa.func.max(sa.case((ranked.c.rank == 1, ranked.c.supplier)))
    top_cents = sa.func.max(sa.case((ranked.c.rank == 1, ranked.c.cents)))
    stmt = sa.select(
        ranked.c.prefix, top, top_cents, sa.func.sum(ranked.c.cents), sa.func.sum(ranked.c.share * ranked.c.share)
    ).group_by(ranked.c.prefix)
    return {
        str(row_prefix): (str(supplier), float(np.round(int(cents) / int(known), 4)), int(np.round(hhi * 10_000)))
        for row_prefix, supplier, cents, known, hhi in session.execute(stmt)
    }


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
    organizations, suppliers and concentration, the pooling potential, and the submitted needs beside it.
    Every figure is an SQL GROUP BY over the cells or the needs at that level (a fixed number of queries); the
    rows are one per category, never one per cell or line."""
    level = check_level(level)
    year = check_year(year)
    parent = _check_prefix(parent)
    if parent and len(parent) > PREFIX_LENGTH[level]:
        raise ValidationFailed({"level": [str(_l("Choose a level below the prefix opened."))]})
    scope = reader_scope(session, actor, organization)
    assumptions = assumptions or savings_assumptions()
    length = PREFIX_LENGTH[level]
    prefix = sa.func.substr(SpendCell.cpv_prefix, 1, length)
    org_code = Organization.code

    years = [int(y) for y in session.scalars(in_scope(sa.select(SpendCell.year).distinct(), scope, None))]
    years.sort()
    by_org = sa.select().select_from(SpendCell).join(Organization, Organization.id == SpendCell.organization_id)
    by_year = _pivot(
        session.execute(
            _cell_filter(
                by_org.add_columns(SpendCell.year, org_code, sa.func.sum(CELL_CENTS)), scope, None, parent
            ).group_by(SpendCell.year, org_code)
        )
    )
    cells = _cell_filter(by_org, scope, year, parent)
    spend_of = {
        str(p): (int(cents), int(lines), int(suppliers))
        for p, cents, lines, suppliers in session.execute(
            cells.with_only_columns(
                prefix,
                sa.func.sum(CELL_CENTS),
                sa.func.sum(SpendCell.lines),
                sa.func.count(sa.distinct(sa.func.nullif(SpendCell.supplier_key, ""))),
            ).group_by(prefix)
        )
    }
    orgs_of: dict[str, dict[str, Decimal]] = {}
    for p, org, cents in session.execute(
        cells.add_columns(prefix, org_code, sa.func.sum(CELL_CENTS)).group_by(prefix, org_code).order_by(org_code)
    ):
        orgs_of.setdefault(str(p), {})[org] = euros(cents)
    suppliers = session.scalar(
        cells.with_only_columns(sa.func.count(sa.distinct(sa.func.nullif(SpendCell.supplier_key, ""))))
    )
    concentration_of = _concentration(session, prefix, cells)

    need_prefix = sa.func.substr(Need.cpv_code, 1, length)
    need_orgs = sa.select().select_from(Need).join(Organization, Organization.id == Need.organization_id)
    needs_by_year = _pivot(
        session.execute(
            _need_filter(
                need_orgs.add_columns(NEED_YEAR, org_code, sa.func.sum(NEED_CENTS)), scope, None, parent
            ).group_by(NEED_YEAR, org_code)
        )
    )
    needs_of = {
        str(p): int(cents)
        for p, cents in session.execute(
            _need_filter(sa.select(need_prefix, sa.func.sum(NEED_CENTS)), scope, year, parent).group_by(need_prefix)
        )
    }
    need_organizations = session.scalars(_need_filter(need_orgs.add_columns(org_code).distinct(), scope, None, parent))

    prefixes = sorted(set(spend_of) | set(needs_of))
    labels = cpv_labels(session, prefixes, lang)
    rows = []
    for p in prefixes:
        cents, lines, supplier_count = spend_of.get(p, (0, 0, 0))
        top_supplier, top_share, hhi = concentration_of.get(p, (None, None, None))
        row = CategoryRow(
            prefix=p,
            label=labels.get(p, ""),
            amount=euros(cents),
            lines=lines,
            suppliers=supplier_count,
            organizations=tuple(sorted(orgs_of.get(p, {}))),
            per_organization=orgs_of.get(p, {}),
            needs_annual=euros(needs_of.get(p, 0)),
            top_supplier=top_supplier,
            top_share=top_share,
            hhi=hhi,
        )
        if row.shared:
            row.savings_low, row.savings_high, row.savings_assumption = impact.savings_range(
                row.amount / max(len(years), 1) if year is None else row.amount, p, assumptions
            )
        rows.append(row)
    rows.sort(key=lambda r: (-r.amount, -r.needs_annual, r.prefix))
    shared = [r for r in rows if r.shared]
    spend_organizations = {org for per_org in orgs_of.values() for org in per_org}
    return SpendMap(
        level=level,
        year=year,
        parent=parent,
        organizations=sorted(spend_organizations | set(need_organizations)),
        years=years,
        rows=rows,
        total=euros(sum(cents for cents, _, _ in spend_of.values())),
        lines=sum(lines for _, lines, _ in spend_of.values()),
        suppliers=int(suppliers or 0),
        pooling_potential=sum((r.amount for r in shared), Decimal(0)),
        pooling_categories=len(shared),
        by_year=by_year,
        needs_by_year=needs_by_year,
        heatmap={r.prefix: r.per_organization for r in rows if r.amount},
        supplier_names=_supplier_names(session, [r.top_supplier for r in rows if r.top_supplier]),
    )


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
