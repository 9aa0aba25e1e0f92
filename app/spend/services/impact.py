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
from app.spend.models import EmissionMapping
from app.spend.services.access import check_reader, reader_scope
from app.spend.services.cube import cells_frame, check_year, euros


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


def _located(session: Session, frame: pd.DataFrame) -> pd.DataFrame:
    """Each cell's location: its own postcode (from the file), else the supplier registry's by SIRET."""
    registry = pd.DataFrame(
        session.execute(sa.select(SupplierCompany.siret, SupplierCompany.postcode, SupplierCompany.city)).all(),
        columns=["supplier_key", "registry_postcode", "registry_city"],
    )
    located = frame.merge(registry, on="supplier_key", how="left")
    from_file = located["supplier_postcode"].notna() & (located["supplier_postcode"] != "")
    located["postcode"] = located["supplier_postcode"].where(from_file, located["registry_postcode"])
    located["city"] = located["supplier_city"].where(from_file, located["registry_city"])
    located["bucket"] = impact.classify_locations(located["postcode"], located["city"], metropole_area())
    return located


def local_share_report(session: Session, actor, *, organization: str | None = None, year=None) -> LocalShareReport:
    year = check_year(year)
    frame = _located(session, cells_frame(session, reader_scope(session, actor, organization), year, location=True))
    per_org = {org: impact.local_share(group["bucket"], group["cents"]) for org, group in frame.groupby("organization")}
    return LocalShareReport(impact.local_share(frame["bucket"], frame["cents"]), per_org, year)


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
    frame = cells_frame(session, reader_scope(session, actor, organization), year)
    by_division = frame.groupby(frame["cpv_prefix"].str[:2])["cents"].sum()
    amounts = {division: euros(cents) for division, cents in by_division.items()}
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
