"""The `impact` object of overlaps, groups and calls, and GET /api/v1/impact/portfolio."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.db import random_id
from app.spend.models import SpendCell, SpendImport
from tests import factories
from tests.conftest import api_token


def spend(org, *cells):
    """Past spend of `org`: cells (cpv_prefix, postcode, city, euros, year)."""
    digest = f"{random_id():064x}"
    import_id = random_id()
    factories.db.session.execute(
        sa.insert(SpendImport),
        [
            {
                "id": import_id,
                "organization_id": org.id,
                "format": "csv",
                "filename": "depenses.csv",
                "sha256": digest,
                "active_sha256": digest,
            }
        ],
    )
    factories.db.session.execute(
        sa.insert(SpendCell),
        [
            {
                "id": random_id(),
                "import_id": import_id,
                "organization_id": org.id,
                "year": year,
                "cpv_prefix": prefix,
                "supplier_key": f"S{n}",
                "supplier_postcode": postcode,
                "supplier_city": city,
                "amount": Decimal(euros),
                "lines": 1,
            }
            for n, (prefix, postcode, city, euros, year) in enumerate(cells)
        ],
    )


@pytest.fixture
def energy(db):
    chu, ub = factories.organization("CHU"), factories.organization("UB")
    factories.need(chu, cpv="09310000", annual="300000.00", start=date(2027, 2, 1), quantity=Decimal(2), unit="GWh")
    factories.need(ub, cpv="09310000", annual="150000.00", start=date(2027, 3, 1), quantity=Decimal(1000), unit="MWh")
    factories.need(chu, cpv="09123000", annual="120000.00", start=date(2027, 2, 1), quantity=Decimal(2), unit="GWh")
    factories.need(ub, cpv="09123000", annual="20000.00", start=date(2027, 3, 1))  # no quantity: not estimated
    spend(
        chu,
        ("09310", "21121", "Fontaine-lès-Dijon", "300.00", 2025),  # inside, resolved by its commune
        ("09310", "75008", "Paris", "600.00", 2025),
    )
    spend(ub, ("09310", "21121", "", "100.00", 2024))  # 21121 without its commune: uncertain, not counted inside
    factories.user("coordinator", email="coord@x.fr")
    factories.user("supplier", email="supplier@x.fr")
    db.session.commit()


def _overlaps(client, headers):
    items = client.get("/api/v1/overlaps?level=class&from=2027-01-01", headers=headers).get_json()["items"]
    return {item["cpv_prefix"]: item for item in items}


def test_overlaps_carry_their_physical_estimate_local_share_and_savings(client, energy):
    found = _overlaps(client, api_token(client, "coord@x.fr"))
    power = found["0931"]["impact"]
    # 2 GWh × 0.052 + 1,000 MWh × 0.052 = 104 + 52 = 156 t per year; ±10 %.
    assert (power["tco2e"], power["tco2e_low"], power["tco2e_high"]) == ("156.0", "140.4", "171.6")
    assert power["method"] == "physical" and power["coverage_pct"] == "100.0"
    assert any("Electricité - 2022 - mix moyen - consommation" in s for s in power["sources"])
    # 300 of 1,000 located euros inside the metropole; 100 at 21121 without a commune is uncertain.
    assert power["local_share_pct"] == "30.0" and power["local_share_uncertain_pct"] == "10.0"
    assert power["local_share_basis"] == "past_spend"
    # Energy: 2 % to 8 % of 450,000 € per year.
    assert (power["savings_low_eur"], power["savings_high_eur"]) == ("9000.00", "36000.00")
    assert power["savings_assumption"]["low_rate"] == "0.02"
    assert power["savings_assumption"]["rationale"].startswith("Énergie : un volume plus grand")  # French by default
    gas = found["0912"]["impact"]
    assert gas["tco2e"] == "454.0" and gas["method"] == "physical"
    assert gas["coverage_pct"] == "85.7"  # 120,000 of 140,000 € per year have a quantity
    assert gas["local_share_pct"] is None  # no past spend in the category


@pytest.fixture
def groups(db):
    elec, orgs, coordinator = factories.constituted_group(
        codes=("DM", "CHU", "UB"),
        amounts=("20000.00", "300000.00", "150000.00"),
        need_columns=[
            {"quantity": Decimal(100), "unit": "MWh"},
            {"quantity": Decimal(2), "unit": "GWh"},
            {"quantity": Decimal(1000), "unit": "MWh"},
        ],
    )
    from app.groups import services as group_services

    gas_needs = [
        factories.need(orgs[1], cpv="09123000", annual="120000.00", quantity=Decimal(2000), unit="MWh"),
        factories.need(orgs[2], cpv="09123000", annual="40000.00", quantity=Decimal(400000), unit="kWh"),
    ]
    gas = group_services.form_group(
        db.session, coordinator, name="Gaz", need_ids=[n.id for n in gas_needs]
    )  # forming: members invited, their needs still proposed
    spend(orgs[1], ("09310", "21000", "Dijon", "500.00", 2025), ("09310", "21560", "Arc-sur-Tille", "500.00", 2024))
    factories.user("buyer", email="ub@x.fr", organization_=orgs[2])
    factories.user("supplier", email="supplier@x.fr")
    coordinator.email = "coord@x.fr"
    db.session.commit()
    return elec, gas


def test_a_group_carries_its_impact(client, groups):
    elec, gas = groups
    body = client.get(f"/api/v1/groups/{elec.id}", headers=api_token(client, "coord@x.fr")).get_json()
    # 100 MWh + 2 GWh + 1,000 MWh = 3.1 GWh × 0.052 = 161.2 t
    assert body["impact"]["tco2e"] == "161.2" and body["impact"]["method"] == "physical"
    assert body["impact"]["local_share_pct"] == "50.0"  # Dijon inside, Arc-sur-Tille (21560) outside
    assert body["impact"]["local_share_uncertain_pct"] == "0.0"
    forming = client.get(f"/api/v1/groups/{gas.id}", headers=api_token(client, "coord@x.fr")).get_json()
    # 2,000 MWh + 400,000 kWh = 2.4 GWh × 0.227 = 544.8 t
    assert forming["impact"]["tco2e"] == "544.8"


def test_the_portfolio_totals_are_the_sums_of_its_groups(client, groups):
    elec, gas = groups
    body = client.get("/api/v1/impact/portfolio", headers=api_token(client, "coord@x.fr")).get_json()
    items = {item["id"]: item for item in body["items"]}
    assert set(items) == {elec.id, gas.id}
    assert items[elec.id]["stage"] == "constituted" and items[gas.id]["stage"] == "forming"
    totals = body["totals"]
    assert totals["groups"] == 2
    for key in ("tco2e", "tco2e_low", "tco2e_high"):
        assert Decimal(totals[key]) == sum(Decimal(i["impact"][key]) for i in items.values())
    for key in ("savings_low_eur", "savings_high_eur"):
        assert Decimal(totals[key]) == sum(Decimal(i["impact"][key]) for i in items.values())
    for key in ("annual_amount_eur", "total_amount_eur"):
        assert Decimal(totals[key]) == sum(Decimal(i[key]) for i in items.values())
    assert totals["tco2e"] == "706.0"  # 161.2 + 544.8
    assert totals["method"] == "physical"
    assert body["caveats"] and body["sources"]
    # Buyers see their groups; UB is a member of both.
    mine = client.get("/api/v1/impact/portfolio", headers=api_token(client, "ub@x.fr")).get_json()
    assert {i["id"] for i in mine["items"]} == {elec.id, gas.id}


def test_the_portfolio_year_selects_past_spend_and_is_validated(client, groups):
    headers = api_token(client, "coord@x.fr")
    elec, _gas = groups
    body = client.get("/api/v1/impact/portfolio?year=2025", headers=headers).get_json()
    shown = {i["id"]: i for i in body["items"]}
    assert body["year"] == 2025 and shown[elec.id]["impact"]["local_share_pct"] == "100.0"
    bad = client.get("/api/v1/impact/portfolio?year=abc", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "validation_error"
    assert client.get("/api/v1/impact/portfolio?year=99999", headers=headers).status_code == 400
    assert client.get("/api/v1/impact/portfolio", headers=api_token(client, "supplier@x.fr")).status_code == 403
    assert client.get("/api/v1/impact/portfolio").status_code == 401


def test_a_call_carries_its_groups_impact_and_hides_members_spend_from_the_public(client, groups, db):
    elec, _gas = groups
    from app.accounts.models import User

    coordinator = db.session.scalar(sa.select(User).where(User.email == "coord@x.fr"))
    call = factories.call(coordinator, elec, publish=True)
    db.session.commit()
    inside = client.get(f"/api/v1/calls/{call.id}", headers=api_token(client, "coord@x.fr")).get_json()
    assert inside["impact"]["tco2e"] == "161.2" and inside["impact"]["local_share_pct"] == "50.0"
    public = client.get(f"/api/v1/calls/{call.id}").get_json()
    assert public["impact"]["tco2e"] == "161.2" and public["impact"]["local_share_pct"] is None


def test_needs_take_a_quantity_per_year_and_a_normalised_unit(client, db):
    import io

    from app.needs.models import Need

    factories.user("buyer", email="chu@x.fr", organization_=factories.organization("CHU"))
    db.session.commit()
    headers = api_token(client, "chu@x.fr")
    need = {
        "title": "Électricité",
        "cpv_code": "09310000-5",
        "annual_amount_eur": "300000.00",
        "start_date": "2027-01-01",
        "duration_months": 36,
        "quantity": "2000",
        "unit": " mwh ",
    }
    body = client.post("/api/v1/needs", json=need, headers=headers).get_json()
    assert body["quantity"] == "2000.00" and body["unit"] == "MWh"
    assert client.post("/api/v1/needs", json={**need, "unit": "ramette"}, headers=headers).get_json()["unit"] == (
        "ramette"
    )
    french = (
        "Intitulé;Code CPV;Montant annuel HT;Date de début;Durée (mois);Quantité;Unité\n"
        "Gaz;09123000;120 000,00;01/03/2027;24;2 000 000;kwh\n"
        "Gazole;09134100;30 000,00;01/03/2027;24;15,5;m³\n"
    )
    response = client.post(
        "/api/v1/needs/import",
        data={"file": (io.BytesIO(french.encode()), "besoins.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    imported = {n.title: (n.quantity, n.unit) for n in db.session.scalars(sa.select(Need))}
    assert imported["Gaz"] == (Decimal("2000000.00"), "kWh") and imported["Gazole"] == (Decimal("15.50"), "m3")


@pytest.mark.parametrize(
    ("city", "local", "uncertain"),
    [("Fontaine-lès-Dijon", "100.0", "0.0"), ("Darois", "0.0", "0.0"), (None, "0.0", "100.0")],
)
def test_once_awarded_the_local_share_is_the_awarded_suppliers_by_commune(
    client, db, clock, query_counter, city, local, uncertain
):
    from datetime import timedelta

    from app.calls import services as call_services

    group, _orgs, coordinator = factories.constituted_group(
        need_columns=[{"quantity": Decimal(1), "unit": "GWh"} for _ in range(3)]
    )
    coordinator.email = "coord@x.fr"
    company = factories.supplier_company(trades=("09000000",), postcode="21121", city=city)
    supplier = factories.user("supplier", supplier=company)
    call = factories.call(coordinator, group)
    call_services.publish_call(db.session, coordinator, call)
    factories.bid(supplier, call, "550000.00")
    db.session.commit()
    before = client.get(f"/api/v1/calls/{call.id}", headers=api_token(client, "coord@x.fr")).get_json()["impact"]
    assert before["local_share_basis"] == "past_spend"
    clock.move_to(factories.CALLS_DEADLINE + timedelta(hours=1))
    factories.award_every_lot(coordinator, call)
    db.session.commit()
    headers = api_token(client, "coord@x.fr")
    with query_counter() as count:  # nothing remembered: the figures are computed
        body = client.get(f"/api/v1/calls/{call.id}", headers=headers).get_json()["impact"]
    assert body["local_share_basis"] == "awarded_suppliers"
    # the members' past spend, replaced by the awarded suppliers', is not read
    assert count.statements and not [s for s in count.statements if "spend_cell" in s]
    assert (body["local_share_pct"], body["local_share_uncertain_pct"]) == (local, uncertain)
    assert body["tco2e"] == "156.0"  # 3 GWh × 0.052
    public = client.get(f"/api/v1/calls/{call.id}").get_json()["impact"]
    assert public["local_share_pct"] == local  # the awarded supplier is public (OCDS)
    (row,) = client.get("/api/v1/impact/portfolio", headers=headers).get_json()["items"]
    assert row["stage"] == "awarded" and row["impact"]["local_share_pct"] == local
