"""The `impact` of overlaps, groups and calls, and the portfolio of groups.

Every figure is per year: tCO2e with its low–high range and its method (climate.py), the local share of the members'
past spend in the category (or, once awarded, of the awarded suppliers' amounts), and a savings range from the
volume-discount assumptions. Each function reads aggregates in a fixed number of queries whatever the number of needs
(SQL GROUP BY, then plain Python on the few distinct rows: pandas' fixed cost per operation would be most of the
time of a few overlaps); nothing loops over ORM lists. The members' past spend is read once for every organization and
remembered, indexed, until the spend changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import pandas as pd
import sqlalchemy as sa
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import freshness
from app.calls.models import Award, Bid, Call, CallLot
from app.db import id_among
from app.domain import climate, impact
from app.errors import NotPermitted
from app.groups.models import GroupNeed, Membership, PurchaseGroup
from app.groups.services import visible_groups
from app.needs.models import Need
from app.organizations.models import Organization, SupplierCompany
from app.spend.services.cube import check_year
from app.spend.services.impact import (
    emission_factors,
    emission_mapping,
    located_cell_sums,
    metropole_area,
    savings_assumptions,
)

PORTFOLIO_STAGES = ("forming", "constituted", "awarded")
STAGE_LABELS = {"forming": _l("forming"), "constituted": _l("constituted"), "awarded": _l("awarded")}
LOCAL_BASIS_LABELS = {
    "past_spend": _l("members' past spend in this category"),
    "awarded_suppliers": _l("awarded suppliers"),
}
CENTS = 100


@lru_cache(maxsize=1)
def physical_factors() -> dict[str, climate.PhysicalFactor]:
    return climate.load_physical_factors()


@lru_cache(maxsize=1)
def energy_cpv() -> dict[str, str]:
    return climate.load_energy_cpv()


def reference(session: Session) -> climate.Reference:
    """The shipped factors, and the CPV division → monetary category mapping admins keep (one query), remembered
    until the spend topic changes (it covers the mapping). Callers must not change it."""
    return freshness.remembered(session, ("spend",), ("impact_reference",), lambda: _read_reference(session))


def _read_reference(session: Session) -> climate.Reference:
    mapping = {division: row.category_key for division, row in emission_mapping(session).items()}
    return climate.Reference(physical_factors(), energy_cpv(), emission_factors(), mapping)


@dataclass
class Impact:
    estimate: climate.Estimate
    local: impact.LocalFigure | None
    local_basis: str  # past_spend | awarded_suppliers
    savings_low: Decimal
    savings_high: Decimal
    savings_assumption: impact.SavingsAssumption
    sources: list[str] = field(default_factory=list)
    category_prefix: str | None = None

    @property
    def local_share_pct(self) -> Decimal | None:
        return self.local.local_pct if self.local else None

    @property
    def local_uncertain_pct(self) -> Decimal | None:
        return self.local.uncertain_pct if self.local else None


def _impact(
    estimate: climate.Estimate,
    local: impact.LocalFigure | None,
    basis: str,
    prefix: str | None,
    ref: climate.Reference,
) -> Impact:
    low, high, assumption = impact.savings_range(estimate.amount, prefix or "", savings_assumptions())
    return Impact(
        estimate,
        local,
        basis,
        low,
        high,
        assumption,
        climate.source_texts(estimate, ref, gettext),
        prefix,
    )


def _spend_locations(session: Session, year: int | None) -> impact.LocatedSpend:
    """Every organization's past spend per CPV category (5 digits), in cents, split by the supplier's location
    (impact.located_sums: inside the metropole, uncertain, known, all), located by the cell's own postcode and city
    from the file, else the supplier registry's by SIRET, and indexed by organization and prefix
    (impact.LocatedSpend): a page of overlaps or groups, or a single one, looks up only its members' rows. Made from
    each organization's sums (located_cell_sums: after an import, only the importing organization's cells are read
    again) and remembered until the spend changes (a change of needs leaves it as it is), so that the figures of any
    few overlaps or groups read no spend; callers must not change it."""
    return freshness.remembered(
        session,
        ("spend",),
        ("spend_locations", year),
        lambda: impact.LocatedSpend.of(_read_spend_locations(session, year)),
    )


def _read_spend_locations(session: Session, year: int | None) -> pd.DataFrame:
    cells = located_cell_sums(session, None, year)
    if cells.empty:
        return pd.DataFrame(columns=["organization", "cpv_prefix", *impact.LOCATED_SUMS])
    return impact.located_sums(
        cells[["organization", "cpv_prefix"]], cells["postcode"], cells["city"], cells["cents"], metropole_area()
    )


def _past_spend(session: Session, wanted: list[tuple[object, str, str]], year: int | None) -> dict:
    """key → LocalFigure: the past spend of each organization under each prefix of `wanted` (key, organization,
    prefix), summed per key (impact.LocatedSpend.figures); no spend is read when nothing is wanted."""
    return _spend_locations(session, year).figures(wanted) if wanted else {}


def _quantity(hundredths) -> Decimal | None:
    """A summed quantity read in integer hundredths (exact: quantities have two decimals), or None."""
    return None if hundredths is None else Decimal(int(hundredths)) / 100


QUANTITY_HUNDREDTHS = sa.cast(sa.func.round(Need.quantity * 100), sa.BigInteger)
# Needs summed per CPV code × unit × "has a quantity": the yearly amounts in cents, the quantities in hundredths and
# how many have one (built once: only the needs selected change).
NEED_LINES = sa.select(
    Need.cpv_code,
    Need.unit,
    sa.func.sum(sa.cast(sa.func.round(Need.annual_amount * 100), sa.BigInteger)),
    sa.func.sum(QUANTITY_HUNDREDTHS),
    sa.func.count(Need.quantity),
).group_by(Need.cpv_code, Need.unit, Need.quantity.is_(None))


# --------------------------------------------------------------------------- overlaps


def overlap_impacts(session: Session, overlaps, year: int | None = None) -> dict[str, Impact]:
    """cpv_prefix → Impact for the overlaps given (a page of them, at one level): one query for the needs of those
    not remembered (the members' past spend and the emission reference are remembered until the spend changes),
    none when every overlap was answered since its division's needs, the spend and the emission mapping last
    changed (each overlap's figures are remembered under those tokens, in the reader's language: the sources are
    translated). Callers must not change the answer."""
    if not overlaps:
        return {}
    by_part = {_overlap_part(o): o for o in overlaps}
    found = freshness.remembered_parts(
        session,
        {part: (freshness.division_topic(part[0][:2]), "spend") for part in by_part},
        ("overlap_impact", year, str(get_locale())),
        lambda parts: _overlap_impacts_of(session, [by_part[part] for part in parts], year),
    )
    return {part[0]: impact for part, impact in found.items()}


def _overlap_part(overlap) -> tuple:
    """What an overlap's figures are computed from, its prefix first: the key of its remembered figures."""
    return (overlap.cpv_prefix, overlap.organizations, overlap.need_ids, overlap.annual_amount)


def _overlap_impacts_of(session: Session, overlaps, year: int | None) -> dict[tuple, Impact]:
    computed = _overlap_impacts(session, overlaps, year)
    return {_overlap_part(o): computed[o.cpv_prefix] for o in overlaps}


def _overlap_impacts(session: Session, overlaps, year: int | None) -> dict[str, Impact]:
    ref = reference(session)
    # The overlaps of one query are at one level: a need's overlap is the prefix of its code at that length. Its
    # needs are summed in SQL per CPV code × unit × "has a quantity" (an estimate is linear in both).
    length = len(overlaps[0].cpv_prefix)
    stmt = NEED_LINES.where(id_among(session, Need.id, (need_id for o in overlaps for need_id in o.need_ids)))
    estimates = climate.estimate_lines(
        (
            (code[:length], code, unit, cents, _quantity(hundredths) if with_quantity else None)
            for code, unit, cents, hundredths, with_quantity in session.execute(stmt)
        ),
        ref,
    )
    wanted = [(o.cpv_prefix, organization, o.cpv_prefix) for o in overlaps for organization in o.organizations]
    local = _past_spend(session, wanted, year)
    return {
        o.cpv_prefix: _impact(
            estimates.get(o.cpv_prefix, climate.Estimate(amount=o.annual_amount)),
            local.get(o.cpv_prefix),
            "past_spend",
            o.cpv_prefix,
            ref,
        )
        for o in overlaps
    }


# --------------------------------------------------------------------------- groups and calls


def _common_prefix(codes: list[str]) -> str | None:
    """The longest prefix (2 to 5 digits) all codes share, or None when they span several divisions."""
    if not codes:
        return None
    first = min(codes)
    last = max(codes)
    length = 0
    while length < min(5, len(first)) and first[length] == last[length]:
        length += 1
    return first[:length] if length >= 2 else None


def group_impacts(session: Session, group_ids: list[int], year: int | None = None) -> dict[int, Impact]:
    """group id → Impact, over the needs each group counts (brought, or still proposed to a member that has not
    answered), with the amounts and quantities adjusted for the group: 4 queries whatever the number of groups.

    The figures from the needs and the members' past spend are remembered (in the reader's language: the sources
    are translated) until the groups, the needs or the spend change; the local share of an awarded group's
    suppliers is read each time (one query, first: the past spend of an awarded group is not read at all). Callers
    must not change the answer."""
    if not group_ids:
        return {}
    ids = tuple(group_ids)
    awarded = _awarded_locations(session, ids)
    awarded_ids = tuple(sorted(awarded))
    from_needs = freshness.remembered(
        session,
        ("groups", "needs", "spend"),
        ("group_impacts", ids, awarded_ids, year, str(get_locale())),
        lambda: _group_impacts_from_needs(session, ids, year, awarded_ids),
    )
    if not awarded:
        return dict(from_needs)
    ref = reference(session)
    return {
        group_id: _impact(figures.estimate, awarded[group_id], "awarded_suppliers", figures.category_prefix, ref)
        if group_id in awarded
        else figures
        for group_id, figures in from_needs.items()
    }


def _group_impacts_from_needs(
    session: Session, group_ids: tuple[int, ...], year: int | None, awarded_ids: tuple[int, ...] = ()
) -> dict[int, Impact]:
    """group id → Impact with the local share of the members' past spend in the group's category; none for the
    `awarded_ids`, whose local share is their awarded suppliers' (group_impacts)."""
    ref = reference(session)
    counted = sa.or_(
        GroupNeed.included,
        sa.and_(PurchaseGroup.status == "forming", Membership.status == "invited"),
    )
    stmt = (
        sa.select(
            GroupNeed.group_id,
            PurchaseGroup.scope_cpv_prefix,
            Organization.code,
            Need.cpv_code,
            Need.unit,
            sa.func.sum(sa.cast(sa.func.round(GroupNeed.annual_amount * 100), sa.BigInteger)),
            sa.func.sum(sa.cast(sa.func.round(GroupNeed.quantity * 100), sa.BigInteger)),
            sa.func.count(GroupNeed.quantity),
        )
        .join(Need, Need.id == GroupNeed.need_id)
        .join(PurchaseGroup, PurchaseGroup.id == GroupNeed.group_id)
        .join(Organization, Organization.id == GroupNeed.organization_id)
        .outerjoin(
            Membership,
            sa.and_(Membership.group_id == GroupNeed.group_id, Membership.organization_id == GroupNeed.organization_id),
        )
        .where(GroupNeed.group_id.in_(group_ids), counted)
        .group_by(
            GroupNeed.group_id,
            PurchaseGroup.scope_cpv_prefix,
            Organization.code,
            Need.cpv_code,
            Need.unit,
            GroupNeed.quantity.is_(None),
        )
    )
    rows = session.execute(stmt).all()
    estimates = climate.estimate_lines(
        (
            (group_id, code, unit, cents, _quantity(hundredths) if with_quantity else None)
            for group_id, _scope, _organization, code, unit, cents, hundredths, with_quantity in rows
        ),
        ref,
    )
    per_group: dict[int, list] = {}
    for row in rows:
        per_group.setdefault(row[0], []).append(row)
    prefixes: dict[int, str | None] = {}
    wanted = []
    skipped = set(awarded_ids)
    for group_id, group_rows in per_group.items():  # one pass per group (a page of them), on aggregated rows
        scope = group_rows[0][1]
        scope = climate.significant(scope)[:5] if isinstance(scope, str) and scope else None
        codes = sorted(row[3] for row in group_rows)
        prefix = scope or _common_prefix(codes)
        prefixes[group_id] = prefix
        if group_id in skipped:
            continue
        in_group = [prefix] if prefix else sorted({code[:2] for code in codes})
        wanted += [(group_id, org, p) for org in sorted({row[2] for row in group_rows}) for p in in_group]
    local = _past_spend(session, wanted, year)
    return {
        group_id: _impact(
            estimates.get(group_id, climate.Estimate()), local.get(group_id), "past_spend", prefixes.get(group_id), ref
        )
        for group_id in group_ids
    }


def _awarded_locations(session: Session, group_ids: tuple[int, ...]) -> dict[int, impact.LocalFigure]:
    """group id → local share of the awarded bids' amounts by the awarded suppliers' location (registry)."""
    stmt = (
        sa.select(
            Call.group_id,
            SupplierCompany.postcode,
            SupplierCompany.city,
            sa.func.sum(sa.cast(sa.func.round(Bid.amount * 100), sa.BigInteger)),
        )
        .select_from(Award)
        .join(Bid, Bid.id == Award.bid_id)
        .join(SupplierCompany, SupplierCompany.id == Bid.supplier_id)
        .join(CallLot, CallLot.id == Award.lot_id)
        .join(Call, Call.id == CallLot.call_id)
        .where(Call.group_id.in_(group_ids))
        .group_by(Call.group_id, SupplierCompany.postcode, SupplierCompany.city)
    )
    found = session.execute(stmt).all()
    if not found:  # no award yet: most calls and groups
        return {}
    rows = pd.DataFrame([tuple(r) for r in found], columns=["key", "postcode", "city", "cents"])
    return impact.local_figures(rows["key"], rows["postcode"], rows["city"], rows["cents"], metropole_area())


def call_impacts(session: Session, calls) -> dict[int, Impact]:
    """call id → Impact. A call buys its group's needs: the group's impact (local share of the awarded suppliers once
    awarded); one batch for a page of calls."""
    by_group = group_impacts(session, sorted({c.group_id for c in calls}))
    return {c.id: by_group[c.group_id] for c in calls}


# --------------------------------------------------------------------------- portfolio


@dataclass
class PortfolioRow:
    group: PurchaseGroup
    stage: str
    impact: Impact
    annual_amount: Decimal
    total_amount: Decimal
    procedure: object


@dataclass
class Portfolio:
    rows: list[PortfolioRow]
    year: int | None
    annual_amount: Decimal
    total_amount: Decimal
    tco2e: Decimal
    tco2e_low: Decimal
    tco2e_high: Decimal
    savings_low: Decimal
    savings_high: Decimal
    local: impact.LocalFigure
    methods: frozenset[str]
    sources: list[str]

    @property
    def method(self) -> str:
        return climate.Estimate(methods=self.methods).method


def _stage_of(session: Session, group_ids: list[int]) -> set[int]:
    """The groups with at least one awarded lot."""
    stmt = (
        sa.select(Call.group_id)
        .join(CallLot, CallLot.call_id == Call.id)
        .join(Award, Award.lot_id == CallLot.id)
        .where(Call.group_id.in_(group_ids))
        .distinct()
    )
    return set(session.scalars(stmt))


def portfolio(session: Session, actor, *, year=None, today) -> Portfolio:
    """The groups the actor may see that are forming, constituted or awarded, with their impact, and totals that are
    the sums of the rows shown (tonnes summed as shown, to the tenth)."""
    if actor.role not in ("admin", "coordinator", "buyer"):
        raise NotPermitted(str(_l("The impact portfolio is for buyers and coordinators.")))
    year = check_year(year)
    from app.groups.services import GROUP_DETAILS, summarize

    stmt = (
        visible_groups(actor)
        .options(*GROUP_DETAILS)
        .where(PurchaseGroup.status.in_(("forming", "constituted", "closed")))
        .order_by(PurchaseGroup.created_at, PurchaseGroup.id)
    )
    groups = list(session.scalars(stmt).unique())
    ids = [g.id for g in groups]
    awarded = _stage_of(session, ids) if ids else set()
    impacts = group_impacts(session, ids, year)
    rows = []
    for group in groups:
        stage = "awarded" if group.id in awarded else group.status
        if stage not in PORTFOLIO_STAGES:
            continue  # a closed group without an award
        summary = summarize(group, today=today)
        rows.append(
            PortfolioRow(
                group, stage, impacts[group.id], summary.annual_amount, summary.total_amount, summary.procedure
            )
        )
    zero = Decimal(0)
    local = impact.LocalFigure(
        sum((r.impact.local.metropole for r in rows if r.impact.local), zero),
        sum((r.impact.local.uncertain for r in rows if r.impact.local), zero),
        sum((r.impact.local.known for r in rows if r.impact.local), zero),
        sum((r.impact.local.total for r in rows if r.impact.local), zero),
    )
    estimate = climate.total(r.impact.estimate for r in rows)
    return Portfolio(
        rows=rows,
        year=year,
        annual_amount=sum((r.annual_amount for r in rows), Decimal("0.00")),
        total_amount=sum((r.total_amount for r in rows), Decimal("0.00")),
        tco2e=sum((r.impact.estimate.tco2e for r in rows), Decimal("0.0")),
        tco2e_low=sum((r.impact.estimate.tco2e_low for r in rows), Decimal("0.0")),
        tco2e_high=sum((r.impact.estimate.tco2e_high for r in rows), Decimal("0.0")),
        savings_low=sum((r.impact.savings_low for r in rows), Decimal("0.00")),
        savings_high=sum((r.impact.savings_high for r in rows), Decimal("0.00")),
        local=local,
        methods=estimate.methods,
        sources=climate.source_texts(estimate, reference(session), gettext),
    )
