"""The spend cube, the local share and the carbon estimate from SQL GROUP BY give what the cells add up to."""

from collections import defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from app.domain import impact
from app.needs.models import Need
from app.organizations.models import Organization
from app.spend import services
from app.spend.models import SpendCell
from app.spend.services.cube import cell_cents, euros
from app.spend.services.impact import metropole_area
from tests import factories

REGISTRY = {"21000000000001": "21000", "21000000000002": "39100", "21000000000005": "71100", "21000000000008": "21800"}
CPVS = ("09310", "90911", "45210", "30192", "09320", "90919", "45000", "33600")
LENGTHS = {"division": 2, "group": 3, "class": 4, "category": 5}


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


# --- the category map and pooling -------------------------------------------------------------------------------


def _reference_map(session, scope_codes, *, level, year, parent):
    """The map as the former pandas computation gave it, from every cell and need read one by one: the figures
    the SQL GROUP BYs must reproduce (spend, lines, suppliers, organizations, needs, concentration, pooling)."""
    length = LENGTHS[level]
    codes = dict(session.execute(sa.select(Organization.id, Organization.code)).all())
    cells = pd.DataFrame(
        [
            (codes[c.organization_id], c.year, c.cpv_prefix, c.supplier_key, int(c.amount * 100), c.lines)
            for c in session.scalars(sa.select(SpendCell))
        ],
        columns=["organization", "year", "cpv_prefix", "supplier_key", "cents", "lines"],
    )
    cells = cells.loc[cells["organization"].isin(scope_codes)]
    needs = pd.DataFrame(
        [
            (codes[n.organization_id], n.start_date.year, n.cpv_code, int(n.annual_amount * 100))
            for n in session.scalars(sa.select(Need).where(Need.status == "submitted"))
        ],
        columns=["organization", "year", "cpv_code", "cents"],
    )
    needs = needs.loc[needs["organization"].isin(scope_codes)]
    years = sorted(int(y) for y in cells["year"].unique())
    if parent:
        cells = cells.loc[cells["cpv_prefix"].str.startswith(parent)]
        needs = needs.loc[needs["cpv_code"].str.startswith(parent)]

    def pivot(frame):
        result = {}
        for (key, org), cents in frame.groupby(["year", "organization"])["cents"].sum().items():
            result.setdefault(int(key), {})[org] = euros(cents)
        return dict(sorted(result.items()))

    by_year, needs_by_year = pivot(cells), pivot(needs)
    if year is not None:
        cells = cells.loc[cells["year"] == year]
        needs_in_year = needs.loc[needs["year"] == year]
    else:
        needs_in_year = needs
    cells = cells.assign(prefix=cells["cpv_prefix"].str[:length])
    needs_of = needs_in_year.groupby(needs_in_year["cpv_code"].str[:length])["cents"].sum().to_dict()
    known = cells.loc[cells["supplier_key"] != ""]
    concentration = impact.concentration(cells[["prefix", "supplier_key", "cents"]]).to_dict("index")
    rows = {}
    for prefix in sorted(set(cells["prefix"]) | set(needs_of)):
        mine = cells.loc[cells["prefix"] == prefix]
        per_org = {org: euros(c) for org, c in mine.groupby("organization")["cents"].sum().items()}
        top = concentration.get(prefix)
        rows[prefix] = (
            euros(mine["cents"].sum()),
            int(mine["lines"].sum()),
            int(known.loc[known["prefix"] == prefix, "supplier_key"].nunique()),
            per_org,
            euros(needs_of.get(prefix, 0)),
            None if top is None else (str(top["top_supplier"]), float(top["top_share"]), int(top["hhi"])),
        )
    shared = [amount for amount, _, _, per_org, _, _ in rows.values() if len(per_org) >= 2]
    return {
        "years": years,
        "by_year": by_year,
        "needs_by_year": needs_by_year,
        "organizations": sorted(set(cells["organization"]) | set(needs["organization"])),
        "total": euros(cells["cents"].sum()),
        "lines": int(cells["lines"].sum()),
        "suppliers": int(known["supplier_key"].nunique()),
        "pooling": (sum(shared, Decimal(0)), len(shared)),
        "rows": rows,
    }


def _figures(result):
    return {
        "years": result.years,
        "by_year": result.by_year,
        "needs_by_year": result.needs_by_year,
        "organizations": result.organizations,
        "total": result.total,
        "lines": result.lines,
        "suppliers": result.suppliers,
        "pooling": (result.pooling_potential, result.pooling_categories),
        "rows": {
            r.prefix: (
                r.amount,
                r.lines,
                r.suppliers,
                r.per_organization,
                r.needs_annual,
                None if r.top_supplier is None else (r.top_supplier, r.top_share, r.hhi),
            )
            for r in result.rows
        },
    }


@pytest.fixture
def needs(db, dataset):
    """Submitted needs of the three organizations over three start years, in the cells' categories and two others
    without spend; a draft that must not count. More cells, so that several organizations spend in a year."""
    orgs = {org.code: org for org in db.session.scalars(sa.select(Organization))}
    factories.bulk_spend_cells([orgs["UB"], orgs["CHU"], orgs["DM"]], 300, cpvs=CPVS[:5], years=(2024, 2025))
    cpvs = ("09310000", "90911200", "45210000", "33600000", "79710000", "09320000", "71000000")
    for n in range(42):
        org = orgs[("DM", "CHU", "UB")[n % 3]]
        factories.need(
            org, cpv=cpvs[n % len(cpvs)], annual=f"{1000 + 37 * n}.50", start=date(2023 + n % 4, 1 + n % 12, 1)
        )
    factories.need(orgs["DM"], cpv="45210000", annual="999999.00", status="draft")
    db.session.commit()
    return dataset


@pytest.mark.parametrize(
    ("level", "year", "parent"),
    [
        (level, year, parent)
        for level in LENGTHS
        for year, parent in [(None, None), (2024, None), (None, "45"), (2025, "093")]
        if not parent or len(parent) <= LENGTHS[level]
    ],
)
def test_the_map_and_pooling_from_sql_match_the_cells_one_by_one(session, needs, level, year, parent):
    coordinator, _ = needs
    result = services.spend_map(session, coordinator, level=level, year=year, parent=parent)
    expected = _reference_map(session, {"DM", "CHU", "UB"}, level=level, year=year, parent=parent)
    assert _figures(result) == expected
    opened = parent and len(parent) == LENGTHS[level]
    assert len(expected["rows"]) >= (1 if opened else 2) and expected["pooling"][1] >= 1  # non-trivial figures
    assert any(top for *_, top in expected["rows"].values())
    assert [r.prefix for r in result.rows] == sorted(
        expected["rows"], key=lambda p: (-expected["rows"][p][0], -expected["rows"][p][4], p)
    )


def test_a_buyer_s_map_is_its_own_organization_s(session, needs):
    _, buyer = needs
    result = services.spend_map(session, buyer, level="class")
    assert _figures(result) == _reference_map(session, {"CHU"}, level="class", year=None, parent=None)
    assert result.organizations == ["CHU"] and result.pooling_categories == 0


@pytest.mark.parametrize("level", ["division", "class", "category"])
@pytest.mark.parametrize("year", [None, 2024])
def test_the_pooling_pages_from_sql_are_the_map_s_shared_categories(session, needs, level, year):
    coordinator, _ = needs
    expected = [r for r in services.spend_map(session, coordinator, level=level, year=year).rows if r.shared]
    pooling = services.pooling_query(session, coordinator, level=level, year=year)
    pages = [pooling.rows[start : start + 3] for start in range(0, len(expected) + 3, 3)]
    rows = [row for page in pages for row in services.pooling_items(session, pooling, page)]
    # a pooling row is the map's row without the organizations' amounts and the top supplier's name (not listed)
    assert [r.per_organization == {} and r.top_supplier is None for r in rows] == [True] * len(rows)
    assert rows == [replace(r, per_organization={}, top_supplier=None) for r in expected] and len(expected) >= 2
    assert any(r.savings_low for r in rows) and any(r.needs_annual for r in rows) and all(r.hhi for r in rows)
    assert pooling.potential == sum((r.amount for r in expected), Decimal(0)) and len(pooling.rows) == len(expected)


def test_a_buyer_pools_nothing(session, needs):
    _, buyer = needs
    pooling = services.pooling_query(session, buyer, level="class")
    assert pooling.rows == () and pooling.potential == 0


def test_sums_of_cents_are_exact_where_adding_floats_is_not(session, db):
    """cell_cents() adds the cells' amounts to the cent on both databases (SQLite keeps them as floats, PostgreSQL
    as NUMERIC): a large amount beside many small ones, whose float sum would drift."""
    orgs = [factories.organization("DM")]
    factories.bulk_spend_cells(orgs, 1000)
    ids = sorted(session.scalars(sa.select(SpendCell.id)))
    session.execute(sa.update(SpendCell).values(amount=Decimal("0.10")))
    session.execute(sa.update(SpendCell).where(SpendCell.id == ids[0]).values(amount=Decimal("987654321098.77")))
    session.execute(sa.update(SpendCell).where(SpendCell.id.in_(ids[1:300])).values(amount=Decimal("0.29")))
    db.session.commit()
    expected = 98765432109877 + 299 * 29 + 700 * 10
    assert round(sum([987654321098.77] + [0.29] * 299 + [0.10] * 700) * 100) != expected  # floats drift
    assert session.scalar(sa.select(cell_cents())) == expected
    by_year = dict(session.execute(sa.select(SpendCell.year, cell_cents()).group_by(SpendCell.year)).all())
    assert sum(by_year.values()) == expected and len(by_year) == 2
