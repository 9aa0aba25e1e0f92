"""The category map: spend per CPV category at one level with its organizations, suppliers and concentration, the
pooling potential and the submitted needs beside it; and the drill-down to the lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter

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
from app.overlaps.services import by_division, in_divisions, per_division
from app.spend import blocks
from app.spend.models import SpendBlock, SpendCell
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


def _shares(top_cents, known_cents, hhi) -> tuple[float, int]:
    """The top supplier's share of the known-supplier spend (4 decimals) and the HHI 0-10,000 from the sum of the
    squared shares."""
    return float(np.round(int(top_cents) / int(known_cents), 4)), int(np.round(hhi * 10_000))


def _years(session: Session, scope: list[int] | None) -> list[int]:
    """The years of the cells in scope, each found from the one before in the year index (the smallest year after
    it): a few index probes instead of a pass over every cell."""
    years = in_scope(sa.select(sa.func.min(SpendCell.year).label("year")), scope, None).cte("years", recursive=True)
    following = in_scope(sa.select(sa.func.min(SpendCell.year)).where(SpendCell.year > years.c.year), scope, None)
    years = years.union_all(sa.select(following.scalar_subquery()).where(years.c.year.is_not(None)))
    return sorted(int(y) for y in session.scalars(sa.select(years.c.year).where(years.c.year.is_not(None))))


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
    Every figure adds up each organization's sums of its cells at that level (organization_sums, remembered until
    that organization's cells change) and the needs' sums (remembered until a need changes); the rows are one per
    category, never one per cell or line. The map itself is remembered until any cells or needs change
    (app.freshness), then made again from those sums: after an import, only the importing organization's cells are
    read. Callers must not change it."""
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


def prefix_supplier_sums(session: Session, scope: list[int] | None, year: int | None, level: str) -> pd.DataFrame:
    """Each organization's cells summed per CPV prefix at `level` and supplier (organization_sums): cents and lines.
    The spend map and the pooling list share them."""
    return organization_sums(
        session,
        scope,
        year,
        ("prefix_supplier", level),
        {"prefix": sa.func.substr(SpendCell.cpv_prefix, 1, PREFIX_LENGTH[level]), "supplier": SpendCell.supplier_key},
        {"cents": cell_cents(), "lines": sa.func.sum(SpendCell.lines)},
    )


def _year_sums(session: Session, scope: list[int] | None, level: str) -> pd.DataFrame:
    """Each organization's cells summed per CPV prefix at `level` and year (organization_sums): cents only, for the
    map's spend per year (the cube's sums also count distinct suppliers, which costs the database more)."""
    return organization_sums(
        session,
        scope,
        None,
        ("prefix_year", level),
        {"prefix": sa.func.substr(SpendCell.cpv_prefix, 1, PREFIX_LENGTH[level]), "year": SpendCell.year},
        {"cents": cell_cents()},
    )


def _below(frame: pd.DataFrame, parent: str | None) -> pd.DataFrame:
    """The rows of a frame of sums whose prefix (at a level at least as long as `parent`) is below `parent`."""
    return frame.loc[frame["prefix"].str.startswith(parent)] if parent else frame


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

    years = _years(session, scope)
    per_year = _below(_year_sums(session, scope, level), parent)
    per_year = per_year.groupby(["year", "organization"])["cents"].sum().reset_index()
    by_year = _pivot(frame_rows(per_year, ["year", "organization", "cents"]))
    sums = _below(prefix_supplier_sums(session, scope, year, level), parent)
    known = sums.loc[sums["supplier"] != ""]
    distinct = known.groupby("prefix", sort=False)["supplier"].nunique()
    totals = sums.groupby("prefix", sort=False)[["cents", "lines"]].sum()
    spend_of = {
        str(p): (int(cents), int(lines), int(distinct.get(p, 0)))
        for p, cents, lines in zip(totals.index, totals["cents"].tolist(), totals["lines"].tolist(), strict=True)
    }
    orgs_of: dict[str, dict[str, Decimal]] = {}
    for (p, org), cents in sums.groupby(["prefix", "organization"])["cents"].sum().items():
        orgs_of.setdefault(str(p), {})[org] = euros(cents)
    suppliers = known["supplier"].nunique()
    concentration = _supplier_concentration(known, named=True)
    concentration_of = {
        str(p): (str(top_supplier), *_shares(top, known_cents, hhi))
        for p, top_supplier, top, known_cents, hhi in frame_rows(
            concentration.reset_index(), ["prefix", "top_supplier", "top", "known", "hhi"]
        )
    }

    needs = [row for row in _need_sums(session, scope, length) if not parent or row[2].startswith(parent)]
    needs_by_year: dict[int, dict[str, Decimal]] = {}
    needs_of: dict[str, int] = {}
    for need_year, org, p, cents in needs:
        per_org = needs_by_year.setdefault(need_year, {})
        per_org[org] = per_org.get(org, Decimal(0)) + euros(cents)
        if year is None or need_year == year:
            needs_of[p] = needs_of.get(p, 0) + cents
    needs_by_year = dict(sorted(needs_by_year.items()))
    need_organizations = {org for _year, org, _p, _cents in needs}

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
    sums = prefix_supplier_sums(session, scope, year, level)
    spend = _shared_spend(sums)
    spend = spend.join(_supplier_concentration(sums.loc[sums["prefix"].isin(spend.index)]))
    spend["suppliers"] = spend["suppliers"].fillna(0)  # a category without a known supplier
    needs = _needs_by_prefix(session, scope, year, length)
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


def _supplier_concentration(sums: pd.DataFrame, named: bool = False) -> pd.DataFrame:
    """Per prefix, from (prefix, supplier, cents) sums, over the known suppliers: their number, the top supplier's
    cents, the known-supplier cents and the sum of the squared shares (each supplier's share its cents over the
    prefix's known-supplier cents); `named`: also the top supplier (the most cents, the smallest key on a tie)."""
    per_supplier = sums.loc[sums["supplier"] != ""].groupby(["prefix", "supplier"], sort=named)["cents"].sum()
    prefixes = per_supplier.index.get_level_values(0)
    by_prefix = per_supplier.groupby(prefixes, sort=False)
    known = by_prefix.transform("sum")
    concentration = pd.DataFrame({"suppliers": by_prefix.size(), "top": by_prefix.max(), "known": by_prefix.sum()})
    concentration["hhi"] = ((per_supplier / known) ** 2).groupby(prefixes, sort=False).sum()
    if named and len(per_supplier):  # sorted by prefix and supplier: idxmax finds the smallest key of the most cents
        concentration["top_supplier"] = [supplier for _prefix, supplier in by_prefix.idxmax().tolist()]
    elif named:
        concentration["top_supplier"] = pd.Series(dtype=object)
    return concentration


def _int(value) -> int | None:
    return None if pd.isna(value) else int(value)


def _float(value) -> float | None:
    return None if pd.isna(value) else float(value)


def _need_sums(session: Session, scope: list[int] | None, length: int) -> tuple[tuple[int, str, str, int], ...]:
    """The submitted needs' yearly cents per start year, organization code and prefix of `length` digits, summed per
    CPV division and each division's sums remembered until its needs (or the organizations) change: after a need
    changes the map reads that division's needs again, after a spend change (an import) none."""
    prefix = sa.func.substr(Need.cpv_code, 1, length)
    stmt = (
        _need_filter(sa.select(NEED_YEAR, Organization.code, prefix, sa.func.sum(NEED_CENTS)), scope, None, None)
        .join(Organization, Organization.id == Need.organization_id)
        .group_by(NEED_YEAR, Organization.code, prefix)
    )

    def read(divisions: list[str], every: bool) -> dict[str, tuple]:
        rows = session.execute(stmt.where(in_divisions(None if every else divisions)))
        sums = ((int(year), str(org), str(p), int(cents)) for year, org, p, cents in rows)
        return by_division(divisions, sums, itemgetter(2))

    parts = per_division(session, ("need_sums", None if scope is None else tuple(sorted(scope)), length), read)
    return tuple(row for division in sorted(parts) for row in parts[division])


def _needs_by_prefix(session: Session, scope: list[int] | None, year: int | None, length: int) -> dict[str, int]:
    """The submitted needs' yearly cents per prefix of `length` digits starting in `year` (None: any), from the
    remembered _need_sums."""
    found: dict[str, int] = {}
    for need_year, _org, prefix, cents in _need_sums(session, scope, length):
        if year is None or need_year == year:
            found[prefix] = found.get(prefix, 0) + cents
    return found


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


def spend_lines(
    session: Session, actor, *, prefix: str, organization: str | None = None, year=None
) -> blocks.LineSelection:
    """The spend lines below a CPV prefix, in the actor's scope, largest first (for a paginated drill-down and its
    export): the scope's blocks read once, a page decoding only its own lines."""
    prefix = _check_prefix(prefix)
    year = check_year(year)
    scope = reader_scope(session, actor, organization)
    listed = sa.select(SpendBlock.id, SpendBlock.import_id, SpendBlock.organization_id)
    if scope is not None:
        listed = listed.where(SpendBlock.organization_id.in_(scope))

    def read(ids: list[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for start in range(0, len(ids), IN_BATCH):
            batch = ids[start : start + IN_BATCH]
            stmt = sa.select(SpendBlock.id, SpendBlock.lines).where(SpendBlock.id.in_(batch))
            found.update((block_id, data) for block_id, data in session.execute(stmt))
        return found

    return blocks.LineSelection((blocks.Block(*row) for row in session.execute(listed)), read, prefix, year)
