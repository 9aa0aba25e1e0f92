from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.calls.models import Contract
from app.clock import paris_today
from app.demo import seed_demo
from app.organizations.models import Organization
from tests.conftest import api_token

PASSWORD = "mutualis-demo"


@pytest.fixture
def demo(db):
    seed_demo(db.session)
    db.session.commit()
    orgs = {o.code: o.id for o in db.session.scalars(sa.select(Organization))}
    contracts = {c.organization_id: c for c in db.session.scalars(sa.select(Contract))}
    return {code: contracts[org_id].id for code, org_id in orgs.items() if org_id in contracts}


def token(client, who):
    return api_token(client, f"{who}@demo.mutualis.fr", PASSWORD)


def test_each_member_lists_its_own_contracts_the_coordinator_all_the_holder_its_own(client, db, demo):
    mine = client.get("/api/v1/contracts", headers=token(client, "achats.ub")).get_json()["items"]
    assert [c["organization"] for c in mine] == ["UB"]
    item = mine[0]
    assert item["kind"] == "framework" and item["status"] == "running"
    assert item["ceiling_eur"] == item["amount_eur"] and Decimal(item["ordered_eur"]) > 0
    assert set(item) >= {"id", "call_id", "lot_id", "organization", "supplier", "amount_eur", "starts_on"}
    everyone = client.get("/api/v1/contracts", headers=token(client, "coordination")).get_json()["items"]
    assert sorted(c["organization"] for c in everyone) == ["CHU", "DM", "UB"]
    filtered = client.get("/api/v1/contracts?organization=CHU&status=running", headers=token(client, "coordination"))
    assert [c["organization"] for c in filtered.get_json()["items"]] == ["CHU"]
    suppliers = {u.supplier_id: u.email.split("@")[0] for u in db.session.scalars(sa.select(User).where(User.is_demo))}
    holder_id = db.session.get(Contract, demo["UB"]).supplier_id
    stranger_id = next(sid for sid in suppliers if sid not in (None, holder_id))
    holder = client.get("/api/v1/contracts", headers=token(client, suppliers[holder_id])).get_json()["items"]
    stranger = client.get("/api/v1/contracts", headers=token(client, suppliers[stranger_id])).get_json()["items"]
    assert len(holder) == 3 and stranger == []
    assert client.get(f"/api/v1/contracts/{demo['CHU']}", headers=token(client, "achats.ub")).status_code == 404
    assert client.get("/api/v1/contracts?status=lost", headers=token(client, "coordination")).status_code == 400
    assert client.get("/api/v1/contracts").status_code == 401


def test_orders_stop_at_the_framework_maximum(client, demo):
    headers = token(client, "achats.metropole")
    contract = client.get(f"/api/v1/contracts/{demo['DM']}", headers=headers).get_json()
    left = Decimal(contract["ceiling_eur"]) - Decimal(contract["ordered_eur"])
    over = client.post(
        f"/api/v1/contracts/{demo['DM']}/orders",
        json={"amount_eur": f"{left + Decimal('0.01'):.2f}", "description": "Trop"},
        headers=headers,
    )
    assert over.status_code == 409 and over.get_json()["error"]["code"] == "ceiling_exceeded"
    assert over.get_json()["error"]["details"]["available_eur"] == f"{left:.2f}"
    done = client.post(
        f"/api/v1/contracts/{demo['DM']}/orders",
        json={"amount_eur": f"{left:.2f}", "description": "Solde", "ordered_on": paris_today().isoformat()},
        headers=headers,
    )
    assert done.status_code == 201 and done.get_json()["ordered_eur"] == contract["ceiling_eur"]
    assert (
        client.post(
            f"/api/v1/contracts/{demo['DM']}/orders",
            json={"amount_eur": "1.00", "description": "x"},
            headers=token(client, "achats.ub"),
        ).status_code
        == 404
    )
    orders = client.get(f"/api/v1/contracts/{demo['DM']}/orders", headers=headers).get_json()["items"]
    assert len(orders) == 3


def test_signing_during_the_standstill_is_409_with_its_end(client, db, demo):
    end = paris_today() + timedelta(days=5)
    db.session.execute(
        sa.update(Contract)
        .where(Contract.id == demo["UB"])
        .values(status="standstill", standstill_ends_on=end, signed_on=None)
    )
    db.session.commit()
    headers = token(client, "achats.ub")
    refused = client.post(f"/api/v1/contracts/{demo['UB']}/sign", json={}, headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "standstill_running"
    assert refused.get_json()["error"]["details"] == {"standstill_ends_on": end.isoformat()}
    order = client.post(
        f"/api/v1/contracts/{demo['UB']}/orders", json={"amount_eur": "1.00", "description": "x"}, headers=headers
    )
    assert order.status_code == 409 and order.get_json()["error"]["code"] == "contract_not_signed"


def test_amendments_answer_the_cumulative_change_and_warnings(client, demo):
    headers = token(client, "coordination")
    contract = client.get(f"/api/v1/contracts/{demo['CHU']}", headers=headers).get_json()
    initial = Decimal(contract["initial_amount_eur"])
    delta = (initial * Decimal("0.12")).quantize(Decimal("0.01"))
    response = client.post(
        f"/api/v1/contracts/{demo['CHU']}/amendments",
        json={"amount_delta_eur": f"-{delta}", "months_delta": 3, "reason": "Fermeture d'un site"},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["cumulative_change_pct"] == "12.00" and body["amount_delta_eur"] == f"-{delta}"
    assert any("R2194-8" in w and "12" in w and "10" in w for w in body["warnings"])
    assert body["months_delta"] == 3
    assert Decimal(body["amount_eur"]) == initial - delta
    again = client.get(f"/api/v1/contracts/{demo['CHU']}", headers=headers).get_json()
    assert again["cumulative_change_pct"] == "12.00" and len(again["amendments"]) == 1 and again["warnings"]
    missing = client.post(f"/api/v1/contracts/{demo['CHU']}/amendments", json={"reason": "x"}, headers=headers)
    assert missing.status_code == 400 and "amount_delta_eur" in missing.get_json()["error"]["details"]["fields"]


def test_the_renewal_radar_and_the_draft_need_it_creates(client, demo):
    headers = token(client, "achats.chu")
    radar = client.get("/api/v1/contracts/expiring?within_months=120", headers=headers).get_json()["items"]
    assert [r["organization"] for r in radar] == ["CHU"]
    item = radar[0]
    assert item["renewal_need"]["cpv_code"].startswith("9091") and item["procedure"] in ("adapted", "formal")
    assert item["procedure_start_by"] < item["next_contract_starts_on"]
    assert client.get("/api/v1/contracts/expiring?within_months=0", headers=headers).status_code == 400
    assert client.get("/api/v1/contracts/expiring", headers=token(client, "fournisseur1")).status_code == 403
    created = client.post(f"/api/v1/contracts/{demo['CHU']}/renewal-need", headers=headers)
    assert created.status_code == 201, created.get_json()
    need = created.get_json()
    assert need["status"] == "draft" and need["organization"] == "CHU"
    assert need["start_date"] == item["next_contract_starts_on"]
    assert need["annual_amount_eur"] == item["renewal_need"]["annual_amount_eur"]


def test_a_call_accepts_standstill_days(client, db, clock):
    from tests import factories
    from tests.api.test_calls_api import CALL

    group, orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord@x.fr"
    db.session.commit()
    headers = api_token(client, "coord@x.fr")
    response = client.post(f"/api/v1/groups/{group.id}/calls", json={**CALL, "standstill_days": 5}, headers=headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["standstill_days"] == 5 and any("R2182-1" in w for w in body["warnings"])
    default = client.post(f"/api/v1/groups/{group.id}/calls", json=CALL, headers=headers).get_json()
    assert default["standstill_days"] is None and not any("R2182-1" in w for w in default["warnings"])
    bad = client.post(f"/api/v1/groups/{group.id}/calls", json={**CALL, "standstill_days": -1}, headers=headers)
    assert bad.status_code == 400


def test_coordinators_see_the_members_evaluations_of_a_bidder_at_the_next_award(client, db, clock):
    from app.calls import services as calls
    from app.contracts import services
    from tests import factories
    from tests.factories import CALLS_DEADLINE
    from tests.services.test_contracts import award, signed

    world = award(db.session, clock)
    contract = signed(db.session, clock, world)
    services.evaluate_supplier(db.session, world["buyers"]["CHU"], contract, services.EvaluationValues(4, 2, 5))
    now = CALLS_DEADLINE + timedelta(days=12)
    again = calls.create_call(
        db.session,
        world["coordinator"],
        world["call"].group,
        calls.CallValues(
            title="Électricité, lot complémentaire",
            description="",
            questions_deadline=now + timedelta(days=1),
            bid_deadline=now + timedelta(days=2),
            lots=[calls.LotInput("Électricité", "09310000-5", Decimal("100000.00"))],
            criteria=[("price", 60), ("technical", 40)],
        ),
    )
    calls.publish_call(db.session, world["coordinator"], again)
    factories.bid(world["bidder"], again, "90000.00")
    world["coordinator"].email = "coord@x.fr"
    world["buyers"]["UB"].email = "ub@x.fr"
    db.session.commit()
    clock.move_to(now + timedelta(days=3))
    ranking = client.get(f"/api/v1/calls/{again.id}/ranking", headers=api_token(client, "coord@x.fr")).get_json()
    record = ranking["items"][0]["bids"][0]["supplier_evaluation"]
    assert record == {"count": 1, "quality": "4.0", "delays": "2.0", "environmental": "5.0"}
    member_view = client.get(f"/api/v1/calls/{again.id}/ranking", headers=api_token(client, "ub@x.fr")).get_json()
    assert member_view["items"][0]["bids"][0]["supplier_evaluation"] is None


def test_contracts_are_listed_in_as_many_statements_for_nine_as_for_three(client, new_client, db, clock, query_counter):
    """The contracts list (API and page) reads each contract's lot, call, member and holder with the contracts."""
    from tests import factories
    from tests.conftest import english

    clock.move_to(factories.CALLS_NOW)
    group, _orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord-contracts@x.fr"
    company = factories.supplier_company(trades=("09310000",), name="Titulaire")
    bidder = factories.user("supplier", email="holder@x.fr", supplier=company)
    calls = [factories.call(coordinator, group, title=f"Appel {n}", publish=True) for n in range(3)]
    for call in calls:
        factories.bid(bidder, call, "500000.00")
    db.session.commit()
    clock.move_to(factories.CALLS_DEADLINE + timedelta(minutes=5))
    counts = {}
    for awarded, newly in ((1, calls[:1]), (3, calls[1:])):
        for call in newly:
            factories.award_every_lot(coordinator, call)
        db.session.commit()
        headers = api_token(client, "coord-contracts@x.fr")
        client.get("/api/v1/contracts", headers=headers)  # warm-up
        with query_counter() as api:
            listed = client.get("/api/v1/contracts", headers=headers)
        assert len(listed.get_json()["items"]) == 3 * awarded
        page_client = english(new_client(), "coord-contracts@x.fr")
        page_client.get("/contracts")
        with query_counter() as page:
            assert page_client.get("/contracts").status_code == 200
        counts[awarded] = (api.value, page.value)
    assert counts[1] == counts[3], counts
