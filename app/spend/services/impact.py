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
from app.organizations.models import Organization, SupplierCompany
from app.spend.models import EmissionMapping, SpendCell
from app.spend.services.access import check_reader, reader_scope
from app.spend.services.cube import cell_cents, check_year, euros, in_scope


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


def local_share_report(session: Session, actor, *, organization: str | None = None, year=None) -> LocalShareReport:
    """Spend per supplier location bucket, overall and per organization. One SQL GROUP BY per organization and
    location (the cell's own postcode and city from the file, else the supplier registry's by SIRET); only the
    distinct locations are classified."""
    year = check_year(year)
    # the cells summed per organization and supplier location first (one GROUP BY over the cells), then the few
    # sums joined to the organization codes and the registry and summed again per location
    located = (SpendCell.supplier_key, SpendCell.supplier_postcode, SpendCell.supplier_city)
    per_supplier = (
        in_scope(
            sa.select(SpendCell.organization_id, *located, cell_cents().label("cents")),
            reader_scope(session, actor, organization),
            year,
        )
        .group_by(SpendCell.organization_id, *located)
        .subquery()
    )
    locations = (
        per_supplier.c.supplier_postcode,
        per_supplier.c.supplier_city,
        SupplierCompany.postcode,
        SupplierCompany.city,
    )
    stmt = (
        sa.select(Organization.code, *locations, sa.func.sum(per_supplier.c.cents))
        .join(Organization, Organization.id == per_supplier.c.organization_id)
        .outerjoin(SupplierCompany, SupplierCompany.siret == per_supplier.c.supplier_key)
        .group_by(Organization.code, *locations)
    )
    columns = ["organization", "supplier_postcode", "supplier_city", "registry_postcode", "registry_city", "cents"]
    frame = pd.DataFrame([tuple(row) for row in session.execute(stmt)], columns=columns)
    frame["cents"] = frame["cents"].astype("int64")
    from_file = frame["supplier_postcode"].notna() & (frame["supplier_postcode"] != "")
    postcodes = frame["supplier_postcode"].where(from_file, frame["registry_postcode"])
    cities = frame["supplier_city"].where(from_file, frame["registry_city"])
    frame["bucket"] = impact.classify_locations(postcodes, cities, metropole_area())
    overall, per_org = impact.local_shares(frame["organization"], frame["bucket"], frame["cents"])
    return LocalShareReport(overall, per_org, year)


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
    year = check_year(year)
    division = sa.func.substr(SpendCell.cpv_prefix, 1, 2)
    stmt = sa.select(division, cell_cents()).group_by(division).order_by(division)
    stmt = in_scope(stmt, reader_scope(session, actor, organization), year)
    amounts = {str(code): euros(cents) for code, cents in session.execute(stmt)}
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
