"""Impact figures from the spend: the local share (metropole, département, region), the carbon estimate through the
emission mapping admins keep, and savings ranges for the current overlaps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

import pandas as pd
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.actors import ADMINS, require_role
from app.clock import utcnow
from app.domain import impact
from app.errors import NotFound, ValidationFailed
from app.organizations.models import SupplierCompany
from app.spend.models import EmissionMapping, SpendCell
from app.spend.services.access import check_reader, reader_scope
from app.spend.services.cube import cell_cents, check_year, euros, organization_sums


@lru_cache(maxsize=1)
def metropole_area() -> impact.MetropoleArea:
    return impact.load_metropole()


@lru_cache(maxsize=1)
def emission_factors() -> dict[str, impact.EmissionFactor]:
    return impact.load_emission_factors()


@lru_cache(maxsize=1)
def savings_assumptions() -> impact.SavingsAssumptions:
    return impact.load_savings_assumptions()


@dataclass
class LocalShareReport:
    overall: impact.LocalShare
    per_organization: dict[str, impact.LocalShare]
    year: int | None


def located_cell_sums(session: Session, scope: list[int] | None, year: int | None) -> pd.DataFrame:
    """Each organization's cells summed per CPV category and supplier location (organization_sums: remembered per
    organization until its cells change; the local share and the past spend beside overlaps and groups share them),
    located: the cell's own postcode and city from the file, else the supplier registry's by SIRET (read on each
    call: the registry changes on its own). A frame of organization, cpv_prefix, postcode, city (empty when unknown)
    and cents."""
    frame = organization_sums(
        session,
        scope,
        year,
        ("located_cells",),
        {
            "cpv_prefix": SpendCell.cpv_prefix,
            # the supplier only where the file gave no postcode (the registry's is looked up): fewer sums to keep
            "supplier_key": sa.case(
                (sa.func.coalesce(SpendCell.supplier_postcode, "") == "", SpendCell.supplier_key), else_=""
            ),
            "supplier_postcode": SpendCell.supplier_postcode,
            "supplier_city": SpendCell.supplier_city,
        },
        {"cents": cell_cents()},
    )
    from_file = frame["supplier_postcode"].notna() & (frame["supplier_postcode"] != "")
    registry = _registry_locations(session, set(frame.loc[~from_file, "supplier_key"]) - {""})
    keys = frame["supplier_key"]
    return pd.DataFrame(
        {
            "organization": frame["organization"],
            "cpv_prefix": frame["cpv_prefix"],
            "postcode": frame["supplier_postcode"].where(from_file, keys.map(registry["postcode"])).fillna(""),
            "city": frame["supplier_city"].where(from_file, keys.map(registry["city"])).fillna(""),
            "cents": frame["cents"],
        }
    )


def local_share_report(session: Session, actor, *, organization: str | None = None, year=None) -> LocalShareReport:
    """Spend per supplier location bucket, overall and per organization (located_cell_sums), only the distinct
    locations classified."""
    year = check_year(year)
    located = (
        located_cell_sums(session, reader_scope(session, actor, organization), year)
        .groupby(["organization", "postcode", "city"], sort=False)["cents"]
        .sum()
        .reset_index()
    )
    located["bucket"] = impact.classify_locations(located["postcode"], located["city"], metropole_area())
    overall, per_org = impact.local_shares(located["organization"], located["bucket"], located["cents"].astype("int64"))
    return LocalShareReport(overall, per_org, year)


REGISTRY_KEYS = 30_000


def _registry_locations(session: Session, sirets: set[str]) -> pd.DataFrame:
    """The postcode and city of the suppliers' registry indexed by SIRET, for the given keys: one query (up to
    REGISTRY_KEYS keys per query, below both databases' limits on bound parameters)."""
    keys = sorted(sirets)
    rows = []
    for start in range(0, max(len(keys), 1), REGISTRY_KEYS):  # one query even with none: a constant count
        stmt = sa.select(SupplierCompany.siret, SupplierCompany.postcode, SupplierCompany.city).where(
            SupplierCompany.siret.in_(keys[start : start + REGISTRY_KEYS])
        )
        rows += session.execute(stmt).all()
    return pd.DataFrame(rows, columns=["siret", "postcode", "city"]).set_index("siret")


@dataclass(frozen=True)
class MappingRow:
    division: str
    category_key: str | None
    note: str
    updated_at: object = None
    changed: bool = False  # differs from the shipped default


def emission_mapping(session: Session) -> dict[str, MappingRow]:
    """division -> category: the database rows (seeded by the migration, edited by admins) over the shipped
    defaults, so that a division missing from the table still has the documented default."""
    defaults = impact.load_default_mapping()
    result = {d: MappingRow(d, key, note) for d, (key, note) in defaults.items()}
    for row in session.scalars(sa.select(EmissionMapping)):
        default = defaults.get(row.division, (None, ""))
        result[row.division] = MappingRow(
            row.division, row.category_key, row.note, row.updated_at, row.category_key != default[0]
        )
    return dict(sorted(result.items()))


def carbon_report(session: Session, actor, *, organization: str | None = None, year=None) -> impact.CarbonEstimate:
    """The spend-based estimate from the spend per CPV division (each organization's sums remembered until its cells
    change) through the emission mapping."""
    year = check_year(year)
    frame = organization_sums(
        session,
        reader_scope(session, actor, organization),
        year,
        ("carbon",),
        {"division": sa.func.substr(SpendCell.cpv_prefix, 1, 2)},
        {"cents": cell_cents()},
    )
    per_division = frame.groupby("division")["cents"].sum().sort_index()
    amounts = {str(code): euros(cents) for code, cents in per_division.items()}
    mapping = {division: m.category_key for division, m in emission_mapping(session).items()}
    return impact.carbon_estimate(amounts, mapping, emission_factors())


def update_emission_mapping(
    session: Session, actor, division: str, category_key: str | None, note: str
) -> EmissionMapping:
    """An admin changes the emission category standing for a CPV division (empty: not estimated)."""
    require_role(actor, ADMINS, _l("Only administrators change the emission mapping."))
    defaults = impact.load_default_mapping()
    if division not in defaults:
        raise NotFound(str(_l("Unknown CPV division.")))
    key = (category_key or "").strip() or None
    if key is not None and key not in emission_factors():
        raise ValidationFailed({"category_key": [str(_l("Unknown emission category."))]})
    note = (note or "").strip()
    if len(note) > 1000:
        raise ValidationFailed({"note": [str(_l("At most %(n)d characters.", n=1000))]})
    mapping = session.get(EmissionMapping, division)
    if mapping is None:
        mapping = EmissionMapping(division=division)
        session.add(mapping)
    mapping.category_key = key
    mapping.note = note
    mapping.updated_at = utcnow()
    mapping.updated_by_id = actor.id
    session.flush()
    return mapping


@dataclass(frozen=True)
class OverlapSavings:
    cpv_prefix: str
    label: str
    organizations: tuple[str, ...]
    total_amount: Decimal
    low: Decimal
    high: Decimal
    assumption: impact.SavingsAssumption


def overlap_savings(
    session: Session, actor, *, level: str = "class", today: date, lang: str = "fr"
) -> list[OverlapSavings]:
    """Savings ranges for the current overlaps of submitted needs (the overlap map's own computation)."""
    from app.overlaps.services import OverlapQuery, find_overlaps, with_details

    check_reader(actor)
    query, overlaps = find_overlaps(session, actor, OverlapQuery(level=level), today=today)
    report = with_details(session, actor, query, overlaps, lang=lang, needs=False)
    assumptions = savings_assumptions()
    result = []
    for overlap in report.overlaps:
        low, high, assumption = impact.savings_range(overlap.total_amount, overlap.cpv_prefix, assumptions)
        result.append(
            OverlapSavings(
                overlap.cpv_prefix,
                overlap.label,
                tuple(overlap.organizations),
                overlap.total_amount,
                low,
                high,
                assumption,
            )
        )
    result.sort(key=lambda s: (-s.total_amount, s.cpv_prefix))
    return result
