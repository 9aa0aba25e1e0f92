"""The spend cube, the local share and the carbon estimate from SQL GROUP BY give what the cells add up to."""

from collections import defaultdict
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from app.domain import impact
from app.organizations.models import Organization
from app.spend import services
from app.spend.models import SpendCell
from app.spend.services.impact import metropole_area
from tests import factories

REGISTRY = {"21000000000001": "21000", "21000000000002": "39100", "21000000000005": "71100", "21000000000008": "21800"}
CPVS = ("09310", "90911", "45210", "30192", "09320", "90919", "45000", "33600")


@pytest.fixture
def dataset(db):
    """1,200 cells of three organizations over eight categories of five divisions and three years, a fifth without
    a known supplier, a quarter without a postcode (the registry gives one for some of their suppliers)."""
    orgs = [factories.organization(code) for code in ("DM", "CHU", "UB")]
    factories.bulk_spend_cells(orgs, 1200, cpvs=CPVS, years=(2023, 2024, 2025))
    for siret, postcode in REGISTRY.items():
        factories.supplier_company(siret=siret, postcode=postcode)
    coordinator = factories.user("coordinator", organization_=orgs[0])
    buyer = factories.user("buyer", organization_=orgs[1])
    db.session.commit()
    return coordinator, buyer


def _cells(session, year=None):
    """Every cell as (organization code, cell), read one by one: the reference the aggregates must match."""
    codes = dict(session.execute(sa.select(Organization.id, Organization.code)).all())
    stmt = sa.select(SpendCell) if year is None else sa.select(SpendCell).where(SpendCell.year == year)
    return [(codes[cell.organization_id], cell) for cell in session.scalars(stmt)]


@pytest.mark.parametrize("level", ["division", "group", "class", "category"])
@pytest.mark.parametrize("year", [None, 2024])
def test_the_cube_adds_up_the_cells_at_each_level(session, dataset, level, year):
    coordinator, _ = dataset
    length = {"division": 2, "group": 3, "class": 4, "category": 5}[level]
    expected = defaultdict(lambda: [Decimal(0), 0, set()])
    for code, cell in _cells(session, year):
        key = (cell.cpv_prefix[:length], code, cell.year)
        expected[key][0] += cell.amount
        expected[key][1] += cell.lines
        if cell.supplier_key:
            expected[key][2].add(cell.supplier_key)
    items = services.spend_cube(session, coordinator, level=level, year=year)
    assert [(i.cpv_prefix, i.organization, i.year) for i in items] == sorted(expected)
    assert {(i.cpv_prefix, i.organization, i.year): (i.amount, i.lines, i.suppliers) for i in items} == {
        key: (amount, lines, len(suppliers)) for key, (amount, lines, suppliers) in expected.items()
    }


def test_a_buyer_s_cube_is_its_own_organization_s(session, dataset):
    _, buyer = dataset
    items = services.spend_cube(session, buyer, level="class")
    assert items and {i.organization for i in items} == {"CHU"}


@pytest.mark.parametrize("year", [None, 2025])
def test_the_carbon_estimate_reads_the_divisions_totals(session, dataset, year):
    coordinator, _ = dataset
    amounts = defaultdict(Decimal)
    for _code, cell in _cells(session, year):
        amounts[cell.cpv_prefix[:2]] += cell.amount
    mapping = {division: m.category_key for division, m in services.emission_mapping(session).items()}
    expected = impact.carbon_estimate(dict(amounts), mapping, services.emission_factors())
    assert services.carbon_report(session, coordinator, year=year) == expected
    assert len(expected.lines) == 5


def test_the_local_share_classifies_each_cell_s_location(session, dataset):
    """A cell's own postcode, else its supplier's in the registry, else unknown."""
    coordinator, _ = dataset
    cells = _cells(session)
    postcodes = pd.Series([cell.supplier_postcode or REGISTRY.get(cell.supplier_key) for _, cell in cells])
    buckets = pd.Series(impact.classify_locations(postcodes, pd.Series([None] * len(cells)), metropole_area()))
    cents = pd.Series([int(cell.amount * 100) for _, cell in cells], dtype="int64")
    codes = pd.Series([code for code, _ in cells])
    report = services.local_share_report(session, coordinator)
    assert report.overall == impact.local_share(buckets, cents)
    assert sum(1 for amount in report.overall.amounts.values() if amount) >= 3  # a spread the test can tell apart
    assert report.per_organization == {
        code: impact.local_share(buckets[codes == code], cents[codes == code]) for code in ("DM", "CHU", "UB")
    }
