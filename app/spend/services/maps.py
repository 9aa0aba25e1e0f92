"""The category map: spend per CPV category at one level with its organizations, suppliers and concentration, the
pooling potential and the submitted needs beside it; and the drill-down to the lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import freshness
from app.domain import impact
from app.domain.cpv import PREFIX_LENGTH
from app.errors import ValidationFailed
from app.needs.models import Need
from app.organizations.models import Organization, SupplierCompany
from app.spend.models import SpendCell, SpendLine
from app.spend.services.access import reader_scope
from app.spend.services.cube import (
    IN_BATCH,
    LEVELS,
    cell_cents,
    check_level,
    check_year,
    cpv_labels,
    euros,
    frame_rows,
    in_scope,
    organization_sums,
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
    if not (prefix.isascii() and prefix.isdigit()) or not 2 <= len(prefix) <= 5:
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
    """prefix -> (top supplier, its share of the known-supplier spend, HHI 0-10,000), from the per-supplier sums of
    the cells (one GROUP BY) as _supplier_shares aggregates them; the top supplier is the one with the most cents,
    the smallest key on a tie (cells without a known supplier cannot be attributed)."""
    per_supplier = (
        cells.with_only_columns(
            prefix.label("prefix"), SpendCell.supplier_key.label("supplier"), cell_cents().label("cents")
        )
        .where(SpendCell.supplier_key != "")
        .group_by(prefix, SpendCell.supplier_key)
        .cte("map_suppliers")
    )
    shares = _supplier_shares(per_supplier).subquery()
    stmt = (
        sa.select(
            shares.c.prefix,
            sa.func.min(per_supplier.c.supplier),
            shares.c.top_cents,
            shares.c.known_cents,
            shares.c.hhi,
        )
        .join(
            per_supplier,
            sa.and_(per_supplier.c.prefix == shares.c.prefix, per_supplier.c.cents == shares.c.top_cents),
        )
        .group_by(shares.c.prefix, shares.c.top_cents, shares.c.known_cents, shares.c.hhi)
    )
    return {
        str(row_prefix): (str(supplier), *_shares(cents, known, hhi))
        for row_prefix, supplier, cents, known, hhi in session.execute(stmt)
    }


def _shares(top_cents, known_cents, hhi) -> tuple[float, int]:
    """The top supplier's share of the known-supplier spend (4 decimals) and the HHI 0-10,000 from the sum of the
    squared shares."""
    return float(np.round(int(top_cents) / int(known_cents), 4)), int(np.round(hhi * 10_000))


def _by_organization() -> sa.Select:
    return sa.select().select_from(SpendCell).join(Organization, Organization.id == SpendCell.organization_id)


def _years(session: Session, scope: list[int] | None) -> list[int]:
    """The years of the cells in scope, each found from the one before in the year index (the smallest year after
    it): a few index probes instead of a pass over every cell."""
    years = in_scope(sa.select(sa.func.min(SpendCell.year).label("year")), scope, None).cte("years", recursive=True)
    following = in_scope(sa.select(sa.func.min(SpendCell.year)).where(SpendCell.year > years.c.year), scope, None)
    years = years.union_all(sa.select(following.scalar_subquery()).where(years.c.year.is_not(None)))
    return sorted(int(y) for y in session.scalars(sa.select(years.c.year).where(years.c.year.is_not(None))))


def _spend_sums() -> tuple:
    """cents, lines and distinct known suppliers of a group of cells."""
    return (
        cell_cents().label("cents"),
        sa.func.sum(SpendCell.lines).label("lines"),
        sa.func.count(sa.distinct(sa.func.nullif(SpendCell.supplier_key, ""))).label("suppliers"),
    )


def _per_organization(session: Session, prefix, cells: sa.Select) -> dict[str, dict[str, Decimal]]:
    """prefix -> organization code -> euros."""
    result: dict[str, dict[str, Decimal]] = {}
    query = cells.add_columns(prefix, Organization.code, cell_cents()).group_by(prefix, Organization.code)
    for p, org, cents in session.execute(query.order_by(Organization.code)):
        result.setdefault(str(p), {})[org] = euros(cents)
    return result


def _category_row(
    p: str,
    spend: tuple[int, int, int],
    needs_cents: int,
    orgs: dict[str, Decimal],
    concentration,
    label: str,
    organizations: Iterable[str] | None = None,  # the codes, when `orgs` (their amounts) is not read
) -> CategoryRow:
    cents, lines, suppliers = spend
    top_supplier, top_share, hhi = concentration or (None, None, None)
    return CategoryRow(
        prefix=p,
        label=label,
        amount=euros(cents),
        lines=int(lines),
        suppliers=int(suppliers),
        organizations=tuple(sorted(orgs if organizations is None else organizations)),
        per_organization=orgs,
        needs_annual=euros(needs_cents),
        top_supplier=top_supplier,
        top_share=top_share,
        hhi=hhi,
    )


def _with_savings(row: CategoryRow, years: int, year: int | None, assumptions: impact.SavingsAssumptions) -> None:
    """A shared category's yearly savings range (the total spread over the years when no year is chosen)."""
    if row.shared:
        row.savings_low, row.savings_high, row.savings_assumption = impact.savings_range(
            row.amount / max(years, 1) if year is None else row.amount, row.prefix, assumptions
        )


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
    rows are one per category, never one per cell or line. The map is remembered until the spend cells, the needs
    or the organizations change (app.freshness): callers must not change it."""
    level = check_level(level)
    year = check_year(year)
    parent = _check_prefix(parent)
    if parent and len(parent) > PREFIX_LENGTH[level]:
        raise ValidationFailed({"level": [str(_l("Choose a level below the prefix opened."))]})
    scope = reader_scope(session, actor, organization)
    if assumptions is not None:
        return _spend_map(session, scope, level, year, parent, lang, assumptions)
    return freshness.remembered(
        session,
        ("spend", "needs"),
        ("spend_map", None if scope is None else tuple(sorted(scope)), level, year, parent, lang),
        lambda: _spend_map(session, scope, level, year, parent, lang, savings_assumptions()),
    )


def _spend_map(
    session: Session,
    scope: list[int] | None,
    level: str,
    year: int | None,
    parent: str | None,
    lang: str,
    assumptions: impact.SavingsAssumptions,
) -> SpendMap:
    length = PREFIX_LENGTH[level]
    prefix = sa.func.substr(SpendCell.cpv_prefix, 1, length)
    org_code = Organization.code

    years = _years(session, scope)
    by_org = _by_organization()
    by_year = _pivot(
        session.execute(
            _cell_filter(by_org.add_columns(SpendCell.year, org_code, cell_cents()), scope, None, parent).group_by(
                SpendCell.year, org_code
            )
        )
    )
    cells = _cell_filter(by_org, scope, year, parent)
    spend_of = {
        str(p): (int(cents), int(lines), int(suppliers))
        for p, cents, lines, suppliers in session.execute(
            cells.with_only_columns(prefix, *_spend_sums()).group_by(prefix)
        )
    }
    orgs_of = _per_organization(session, prefix, cells)
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
        row = _category_row(
            p,
            spend_of.get(p, (0, 0, 0)),
            needs_of.get(p, 0),
            orgs_of.get(p, {}),
            concentration_of.get(p),
            labels.get(p, ""),
        )
        _with_savings(row, len(years), year, assumptions)
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


@dataclass(frozen=True)
class Pooling:
    """The categories where two organizations or more spend, in the order of the map (to page through)."""

    level: str
    year: int | None
    years: list[int]  # the years of spend in scope (savings spread the total over them when no year is chosen)
    # (prefix, cents, lines, suppliers, needs cents, organization codes joined by commas, top supplier cents,
    # known-supplier cents, sum of the squared supplier shares), the largest first
    rows: tuple[tuple, ...]

    @property
    def potential(self) -> Decimal:
        """The pooling potential: the spend of every shared category (euros)."""
        return euros(sum(row[1] for row in self.rows))


def _supplier_shares(per_supplier: sa.CTE) -> sa.Select:
    """Per prefix, from (prefix, supplier, cents) rows of the known suppliers: their number, the top supplier's cents,
    the known-supplier cents and the sum of the squared shares (each supplier's share its cents over the prefix's
    known-supplier cents, joined rather than windowed: no sort), for the map (_concentration). The pooling list
    computes the same figures from each organization's sums (_supplier_concentration)."""
    known = (
        sa.select(per_supplier.c.prefix, sa.func.sum(per_supplier.c.cents).label("cents"))
        .group_by(per_supplier.c.prefix)
        .subquery()
    )
    share = sa.cast(per_supplier.c.cents, sa.Float) / known.c.cents
    return (
        sa.select(
            per_supplier.c.prefix,
            sa.func.count().label("suppliers"),
            sa.func.max(per_supplier.c.cents).label("top_cents"),
            sa.func.sum(per_supplier.c.cents).label("known_cents"),
            sa.func.sum(share * share).label("hhi"),
        )
        .join(known, known.c.prefix == per_supplier.c.prefix)
        .group_by(per_supplier.c.prefix)
    )


def pooling_query(
    session: Session, actor, *, level: str = "class", organization: str | None = None, year=None
) -> Pooling:
    """The pooling categories at `level` beside the submitted needs of the same prefixes, ordered as the map orders
    them, with their organizations and supplier concentration. Each organization's cells are summed per prefix and
    supplier (one SQL GROUP BY over the organizations not remembered: after an import, the importing one's), and
    every figure is a sum of those sums over the organizations (two or more per category)."""
    level = check_level(level)
    year = check_year(year)
    scope = reader_scope(session, actor, organization)
    length = PREFIX_LENGTH[level]
    sums = organization_sums(
        session,
        scope,
        year,
        ("pooling", level),
        {"prefix": sa.func.substr(SpendCell.cpv_prefix, 1, length), "supplier": SpendCell.supplier_key},
        {"cents": cell_cents(), "lines": sa.func.sum(SpendCell.lines)},
    )
    spend = _shared_spend(sums)
    spend = spend.join(_supplier_concentration(sums.loc[sums["prefix"].isin(spend.index)]))
    spend["suppliers"] = spend["suppliers"].fillna(0)  # a category without a known supplier
    needs = dict(_needs_by_prefix(session, scope, year, length))
    spend["needs"] = [needs.get(p, 0) for p in spend.index]
    spend = spend.reset_index().sort_values(["cents", "needs", "prefix"], ascending=[False, False, True], kind="stable")
    columns = ["prefix", "cents", "lines", "suppliers", "needs", "codes", "top", "known", "hhi"]
    rows = tuple(
        (str(p), int(cents), int(lines), int(n), int(needs_cents), codes, _int(top), _int(known), _float(hhi))
        for p, cents, lines, n, needs_cents, codes, top, known, hhi in frame_rows(spend, columns)
    )
    return Pooling(level, year, _years(session, scope), rows)


def _shared_spend(sums: pd.DataFrame) -> pd.DataFrame:
    """Per prefix spent by two organizations or more, from (organization, prefix, supplier, cents, lines) sums: the
    cents, lines, number of organizations and their codes joined by commas."""
    per_organization = sums.groupby(["prefix", "organization"], sort=False)[["cents", "lines"]].sum().reset_index()
    by_prefix = per_organization.groupby("prefix", sort=False)
    spend = by_prefix[["cents", "lines"]].sum()
    spend = spend.loc[by_prefix.size() >= 2]
    shared = per_organization.loc[per_organization["prefix"].isin(spend.index)]
    spend["codes"] = shared.groupby("prefix", sort=False)["organization"].agg(",".join)
    return spend


def _supplier_concentration(sums: pd.DataFrame) -> pd.DataFrame:
    """Per prefix, from (prefix, supplier, cents) sums, over the known suppliers (as _supplier_shares in SQL): their
    number, the top supplier's cents, the known-supplier cents and the sum of the squared shares."""
    per_supplier = sums.loc[sums["supplier"] != ""].groupby(["prefix", "supplier"], sort=False)["cents"].sum()
    prefixes = per_supplier.index.get_level_values(0)
    by_prefix = per_supplier.groupby(prefixes, sort=False)
    known = by_prefix.transform("sum")
    concentration = pd.DataFrame({"suppliers": by_prefix.size(), "top": by_prefix.max(), "known": by_prefix.sum()})
    concentration["hhi"] = ((per_supplier / known) ** 2).groupby(prefixes, sort=False).sum()
    return concentration


def _int(value) -> int | None:
    return None if pd.isna(value) else int(value)


def _float(value) -> float | None:
    return None if pd.isna(value) else float(value)


def _needs_by_prefix(session: Session, scope: list[int] | None, year: int | None, length: int) -> tuple:
    """The submitted needs' yearly cents per prefix of `length` digits, remembered until a need changes, so that
    after a spend change (an import) only the cells are read again."""
    prefix = sa.func.substr(Need.cpv_code, 1, length)
    return freshness.remembered(
        session,
        ("needs",),
        ("needs_by_prefix", None if scope is None else tuple(sorted(scope)), year, length),
        lambda: tuple(
            (str(p), int(cents))
            for p, cents in session.execute(
                _need_filter(sa.select(prefix, sa.func.sum(NEED_CENTS)), scope, year, None).group_by(prefix)
            )
        ),
    )


def pooling_items(
    session: Session, pooling: Pooling, rows, lang: str = "fr", assumptions: impact.SavingsAssumptions | None = None
) -> list[CategoryRow]:
    """CategoryRows of a page of Pooling.rows, with the page's labels (one query). They carry what the
    pooling lists show: the organizations without their amounts (`per_organization` empty), the top supplier's
    share and the HHI without its name (`top_supplier` None)."""
    rows = list(rows)
    labels = cpv_labels(session, [str(row[0]) for row in rows], lang)
    assumptions = assumptions or savings_assumptions()
    result = []
    for p, cents, lines, suppliers, needs_cents, codes, top_cents, known, hhi in rows:
        row = _category_row(
            str(p),
            (int(cents), int(lines), int(suppliers)),
            int(needs_cents),
            {},
            None if known is None else (None, *_shares(top_cents, known, hhi)),
            labels.get(str(p), ""),
            organizations=codes.split(","),
        )
        _with_savings(row, len(pooling.years), pooling.year, assumptions)
        result.append(row)
    return result


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
