import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.calls.models import Bid, Call
from app.calls.services import sealing
from tests import factories
from tests.conftest import api_token
from tests.factories import CALLS_DEADLINE as DEADLINE
from tests.schemas import ocds_errors

CALL = {
    "title": "Fourniture d'électricité 2027-2029",
    "description": "Électricité des sites des membres.",
    "questions_deadline": "2026-12-05T12:00:00+01:00",
    "bid_deadline": "2026-12-10T12:00:00+01:00",
    "lots": [{"title": "Électricité", "cpv_code": "09310000-5", "estimated_amount_eur": "600000.00"}],
    "criteria": [
        {"name": "price", "weight": 60},
        {"name": "technical", "weight": 30},
        {"name": "environmental", "weight": 10},
    ],
}


@pytest.fixture
def world(db, clock):
    group, orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord@x.fr"
    factories.user("buyer", email="member@x.fr", organization_=orgs[1])
    factories.user("buyer", email="outsider@x.fr", organization_=factories.organization("OUT"))
    factories.user("admin", email="admin@x.fr")
    for name, postcode in (("alpha", "21000"), ("beta", "71100")):
        company = factories.supplier_company(trades=("09310000",), postcode=postcode, name=f"Société {name}")
        factories.user("supplier", email=f"{name}@x.fr", supplier=company)
    db.session.commit()
    return {"group": group}


def tokens(client, *names):
    return {name: api_token(client, f"{name}@x.fr") for name in names}


def published_call(client, world, t):
    response = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=CALL, headers=t["coord"])
    assert response.status_code == 201, response.get_json()
    call = response.get_json()
    assert call["status"] == "draft" and call["lots"][0]["id"]
    assert call["bid_deadline"] == "2026-12-10T11:00:00+00:00"  # stored and returned in UTC
    assert client.post(f"/api/v1/calls/{call['id']}/publish", headers=t["coord"]).status_code == 200
    return call


def test_a_group_that_is_not_constituted_gets_409(client, db, clock):
    coordinator = factories.user("coordinator", email="coord@x.fr")
    need = factories.organization("CHU")
    db.session.commit()
    from app.groups.models import PurchaseGroup

    group = PurchaseGroup(name="G", coordinator_organization_id=need.id)
    db.session.add(group)
    db.session.commit()
    response = client.post(f"/api/v1/groups/{group.id}/calls", json=CALL, headers=api_token(client, coordinator.email))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "group_not_constituted"


def test_past_deadline_and_bad_weights_give_400(client, world):
    t = tokens(client, "coord")
    bad = {**CALL, "bid_deadline": "2026-11-01T12:00:00+01:00", "criteria": [{"name": "price", "weight": 50}]}
    response = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=bad, headers=t["coord"])
    assert response.status_code == 400
    fields = response.get_json()["error"]["details"]["fields"]
    assert {"bid_deadline", "criteria"} <= set(fields)


def test_short_periods_are_warnings_not_refusals(client, world):
    t = tokens(client, "coord")
    short = {**CALL, "questions_deadline": "2026-11-23T12:00:00+01:00", "bid_deadline": "2026-11-24T12:00:00+01:00"}
    response = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=short, headers=t["coord"])
    assert response.status_code == 201 and response.get_json()["warnings"]


def test_supplier_flow_question_bid_receipt_idempotency_and_deadline(client, world, clock):
    t = tokens(client, "coord", "alpha")
    call = published_call(client, world, t)
    listed = client.get("/api/v1/calls?status=published", headers=t["alpha"]).get_json()["items"]
    assert [c["id"] for c in listed] == [call["id"]]
    question = client.post(
        f"/api/v1/calls/{call['id']}/questions", json={"text": "Volumes fermes ?"}, headers=t["alpha"]
    )
    assert question.status_code == 201
    client.post(
        f"/api/v1/calls/{call['id']}/questions/{question.get_json()['id']}/answer",
        json={"answer": "Non, estimatifs."},
        headers=t["coord"],
    )
    answers = client.get(f"/api/v1/calls/{call['id']}", headers=t["alpha"]).get_json()["answers"]
    assert answers[0]["question"] == "Volumes fermes ?" and "supplier" not in json.dumps(answers)

    body = {"lot_id": call["lots"][0]["id"], "amount_eur": "512345.67", "technical_note": "Offre verte"}
    headers = {**t["alpha"], "Idempotency-Key": "abc-123"}
    first = client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers=headers)
    assert first.status_code == 201
    receipt = first.get_json()
    assert len(receipt["receipt_sha256"]) == 64 and receipt["submitted_at"].endswith("+00:00")
    retry = client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers=headers)
    assert retry.status_code == 201 and retry.get_json() == receipt

    clock.move_to(DEADLINE - timedelta(seconds=1))
    t = tokens(client, "alpha")
    assert client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers=t["alpha"]).status_code == 201
    clock.move_to(DEADLINE)
    t = tokens(client, "alpha")
    late = client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers=t["alpha"])
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "call_closed"
    clock.move_to(DEADLINE + timedelta(seconds=1))
    t = tokens(client, "alpha")
    assert client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers=t["alpha"]).status_code == 409


def _bid_with_key(client, call, headers, key="retry-1", **changes):
    body = {"lot_id": call["lots"][0]["id"], "amount_eur": "512345.67", "technical_note": "Offre verte", **changes}
    return client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers={**headers, "Idempotency-Key": key})


def _amounts(db) -> list:
    """The amounts of every stored bid, opened in memory with the server key (the database holds them sealed)."""
    db.session.expire_all()
    bids = list(db.session.scalars(sa.select(Bid)))
    for placed in bids:
        sealing.reveal_own(db.session.get(Call, placed.call_id), [placed])
    return sorted((str(b.amount), b.status) for b in bids)


def test_an_idempotency_key_replays_the_first_receipt_for_the_same_request_only(client, world, db):
    t = tokens(client, "coord", "alpha")
    call = published_call(client, world, t)
    first = _bid_with_key(client, call, t["alpha"])
    assert first.status_code == 201
    again = _bid_with_key(client, call, t["alpha"], amount_eur="512345.670")  # the same amount, written otherwise
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert _amounts(db) == [("512345.67", "active")]


@pytest.mark.parametrize(
    "change",
    [{"amount_eur": "1.00"}, {"technical_note": "Autre offre"}, {"delivery_distance_km": "12"}],
    ids=["amount", "note", "distance"],
)
def test_an_idempotency_key_sent_again_with_another_body_is_refused_not_silently_dropped(client, world, db, change):
    t = tokens(client, "coord", "alpha")
    call = published_call(client, world, t)
    assert _bid_with_key(client, call, t["alpha"]).status_code == 201
    refused = _bid_with_key(client, call, t["alpha"], **change)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "idempotency_key_mismatch"
    assert _amounts(db) == [("512345.67", "active")]  # nothing replaced, nothing lost without a word


def test_an_idempotency_key_used_on_another_call_is_a_mismatch(client, world, db):
    t = tokens(client, "coord", "alpha")
    call, other = published_call(client, world, t), published_call(client, world, t)
    assert _bid_with_key(client, call, t["alpha"]).status_code == 201
    body = {"lot_id": other["lots"][0]["id"], "amount_eur": "512345.67", "technical_note": "Offre verte"}
    refused = client.post(
        f"/api/v1/calls/{other['id']}/bids", json=body, headers={**t["alpha"], "Idempotency-Key": "retry-1"}
    )
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "idempotency_key_mismatch"


def test_the_key_of_a_withdrawn_bid_is_never_replayed(client, world, db):
    t = tokens(client, "coord", "alpha")
    call = published_call(client, world, t)
    placed = _bid_with_key(client, call, t["alpha"])
    assert client.delete(f"/api/v1/bids/{placed.get_json()['id']}", headers=t["alpha"]).status_code == 204
    replay = _bid_with_key(client, call, t["alpha"])
    assert replay.status_code == 409 and replay.get_json()["error"]["code"] == "bid_withdrawn"
    assert "nouvelle clé Idempotency-Key" in replay.get_json()["error"]["message"]  # French by default
    assert _amounts(db) == [("512345.67", "withdrawn")]  # no receipt of a bid that is no longer there
    assert _bid_with_key(client, call, t["alpha"], key="retry-2").status_code == 201  # a new key bids again


def test_an_idempotency_key_is_never_replayed_after_the_deadline(client, world, db, clock):
    t = tokens(client, "coord", "alpha")
    call = published_call(client, world, t)
    assert _bid_with_key(client, call, t["alpha"]).status_code == 201
    clock.move_to(DEADLINE)
    t = tokens(client, "alpha")
    late = _bid_with_key(client, call, t["alpha"])
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "call_closed"


def test_the_openapi_document_describes_the_idempotency_key_refusals(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/calls/{call_id}/bids"]["post"]
    assert "idempotency_key_mismatch" in operation["responses"]["422"]["description"]
    assert "bid_withdrawn" in operation["responses"]["409"]["description"]
    key = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert "withdraw" in key["description"] and "deadline" in key["description"]


def test_withdraw_before_deadline_and_other_suppliers_bid_is_404(client, world):
    t = tokens(client, "coord", "alpha", "beta")
    call = published_call(client, world, t)
    bid = client.post(
        f"/api/v1/calls/{call['id']}/bids",
        json={"lot_id": call["lots"][0]["id"], "amount_eur": "500000"},
        headers=t["alpha"],
    )
    bid_id = bid.get_json()["id"]
    assert client.get(f"/api/v1/bids/{bid_id}", headers=t["beta"]).status_code == 404
    assert client.delete(f"/api/v1/bids/{bid_id}", headers=t["beta"]).status_code == 404
    assert client.delete(f"/api/v1/bids/{bid_id}", headers=t["alpha"]).status_code == 204
    assert client.get(f"/api/v1/bids/{bid_id}", headers=t["alpha"]).get_json()["status"] == "withdrawn"


SEALED_ENDPOINTS = ("/api/v1/calls/{call}/bids", "/api/v1/bids/{bid}", "/api/v1/calls/{call}/ranking")


def test_sealed_bid_matrix_every_role_before_and_after_the_deadline(client, world, clock, db):
    t = tokens(client, "coord", "alpha", "beta")
    call = published_call(client, world, t)
    placed = client.post(
        f"/api/v1/calls/{call['id']}/bids",
        json={"lot_id": call["lots"][0]["id"], "amount_eur": "498765.43"},
        headers=t["alpha"],
    )
    bid_id = placed.get_json()["id"]
    roles = ("coord", "admin", "member", "outsider", "alpha", "beta")

    def observe():
        t = tokens(client, *roles)
        seen = {}
        for role in roles:
            for template in SEALED_ENDPOINTS:
                url = template.format(call=call["id"], bid=bid_id)
                response = client.get(url, headers=t[role])
                seen[(role, template)] = (response.status_code, response.get_data(as_text=True))
            for url in (f"/api/v1/calls/{call['id']}", f"/api/v1/calls/{call['id']}/ocds", "/api/v1/calls"):
                response = client.get(url, headers=t[role])
                seen[(role, url)] = (response.status_code, response.get_data(as_text=True))
        return seen

    before = observe()
    for role in ("coord", "admin", "member"):
        assert before[(role, "/api/v1/calls/{call}/bids")][0] == 403
        assert json.loads(before[(role, "/api/v1/calls/{call}/bids")][1])["error"]["code"] == "bids_sealed"
        assert before[(role, "/api/v1/bids/{bid}")][0] == 404  # the same answer as for a bid that does not exist
        assert before[(role, "/api/v1/calls/{call}/ranking")][0] == 403
    assert before[("outsider", "/api/v1/calls/{call}/bids")][0] == 404
    assert before[("beta", "/api/v1/bids/{bid}")][0] == 404
    assert json.loads(before[("beta", "/api/v1/calls/{call}/bids")][1])["items"] == []
    assert json.loads(before[("alpha", "/api/v1/calls/{call}/bids")][1])["items"][0]["amount_eur"] == "498765.43"
    for (role, _endpoint), (_status, text) in before.items():
        if role != "alpha":  # nothing anywhere says a bid exists: no amount, no supplier, no count
            assert "498765" not in text and "Société alpha" not in text and "numberOfTenderers" not in text

    clock.move_to(DEADLINE)
    after = observe()
    for role in ("coord", "admin", "member"):
        assert after[(role, "/api/v1/calls/{call}/bids")][0] == 200
        assert "498765.43" in after[(role, "/api/v1/calls/{call}/bids")][1]
        # the deadline opens the bids to those who evaluate them, not to open data: that waits for the award
        assert "Société alpha" not in after[(role, f"/api/v1/calls/{call['id']}/ocds")][1]
    assert after[("beta", "/api/v1/bids/{bid}")][0] == 404
    assert "498765" not in after[("beta", "/api/v1/calls/{call}/bids")][1]
    assert db.session.scalar(sa.select(sa.func.count(Bid.id))) == 1


def test_concurrent_submissions_of_one_supplier_leave_one_active_bid(web_app, world, db):
    client = web_app.test_client()
    t = tokens(client, "coord", "alpha")
    call = published_call(client, world, t)
    barrier = threading.Barrier(4)
    statuses = []

    def submit(amount):
        local = web_app.test_client()
        barrier.wait()
        response = local.post(
            f"/api/v1/calls/{call['id']}/bids",
            headers=t["alpha"],
            json={"lot_id": call["lots"][0]["id"], "amount_eur": amount},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=submit, args=(f"{500000 + i}.00",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.session.expire_all()
    active = db.session.scalar(sa.select(sa.func.count(Bid.id)).where(Bid.status == "active"))
    assert active == 1
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}


def test_scores_ranking_award_and_ocds_after_closing(client, world, clock):
    t = tokens(client, "coord", "alpha", "beta")
    call = published_call(client, world, t)
    lot_id = call["lots"][0]["id"]
    a = client.post(
        f"/api/v1/calls/{call['id']}/bids", json={"lot_id": lot_id, "amount_eur": "450000"}, headers=t["alpha"]
    ).get_json()["id"]
    b = client.post(
        f"/api/v1/calls/{call['id']}/bids", json={"lot_id": lot_id, "amount_eur": "500000"}, headers=t["beta"]
    ).get_json()["id"]
    clock.move_to(DEADLINE + timedelta(hours=1))
    t = tokens(client, "coord")
    for bid_id, tech in ((a, 60), (b, 90)):
        response = client.post(
            f"/api/v1/calls/{call['id']}/scores",
            headers=t["coord"],
            json={"bid_id": bid_id, "scores": {"technical": tech, "environmental": 50}},
        )
        assert response.status_code == 200
    ranking = client.get(f"/api/v1/calls/{call['id']}/ranking", headers=t["coord"]).get_json()["items"][0]["bids"]
    # a: 60 + 18 + 5 = 83 ; b: 450/500×60 = 54 + 27 + 5 = 86
    assert [(r["bid_id"], r["total"]) for r in ranking] == [(b, "86.00"), (a, "83.00")]
    award = client.post(f"/api/v1/calls/{call['id']}/awards", json={"lot_id": lot_id, "bid_id": b}, headers=t["coord"])
    assert award.status_code == 201
    contracts = award.get_json()["contracts"]
    assert sum(float(c["amount_eur"]) for c in contracts) == 500000.0 and len(contracts) == 3
    package = client.get(f"/api/v1/calls/{call['id']}/ocds", headers=t["coord"]).get_json()
    assert ocds_errors(package) == []
    assert package["releases"][0]["awards"][0]["value"]["amount"] == 500000.0


def test_a_forged_bearer_header_does_not_pass_a_remembered_session_for_a_fresh_login(client, world, db):
    from tests.conftest import csrf_from

    t = tokens(client, "coord")
    call = published_call(client, world, t)
    page = client.get("/login")
    client.post(
        "/login",
        data={
            "email": "alpha@x.fr",
            "password": factories.PASSWORD,
            "remember": "y",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    client.delete_cookie("session")  # the browser was closed: the remember cookie restores a session, not fresh
    csrf = csrf_from(client.get("/").get_data(as_text=True))
    body = {"lot_id": call["lots"][0]["id"], "amount_eur": "500000.00"}
    headers = {"X-CSRFToken": csrf, "Authorization": "Bearer forged"}
    refused = client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers=headers)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "fresh_login_required"
    assert db.session.scalar(sa.select(sa.func.count(Bid.id))) == 0


def test_after_the_award_each_bidder_reads_its_outcome_and_the_public_its_award_notice(client, world, clock, db):
    t = tokens(client, "coord", "alpha", "beta")
    call = published_call(client, world, t)
    lot_id = call["lots"][0]["id"]
    ids = {
        name: client.post(
            f"/api/v1/calls/{call['id']}/bids", json={"lot_id": lot_id, "amount_eur": amount}, headers=t[name]
        ).get_json()["id"]
        for name, amount in (("alpha", "450000"), ("beta", "500000"))
    }
    before = client.get(f"/api/v1/bids/{ids['alpha']}", headers=t["alpha"]).get_json()
    assert before["status"] == "active" and before["rank"] is None and before["reasons"] == []
    clock.move_to(DEADLINE + timedelta(hours=1))
    t = {**t, **tokens(client, "coord", "alpha", "beta")}
    for name, tech in (("alpha", 60), ("beta", 90)):
        client.post(
            f"/api/v1/calls/{call['id']}/scores",
            headers=t["coord"],
            json={"bid_id": ids[name], "scores": {"technical": tech, "environmental": 50}},
        )
    award = {"lot_id": lot_id, "bid_id": ids["beta"]}
    assert client.post(f"/api/v1/calls/{call['id']}/awards", json=award, headers=t["coord"]).status_code == 201
    won = client.get(f"/api/v1/bids/{ids['beta']}", headers=t["beta"]).get_json()
    assert (won["status"], won["rank"], won["total_points"]) == ("awarded", 1, "86.00")
    lost = client.get(f"/api/v1/calls/{call['id']}/bids", headers=t["alpha"]).get_json()["items"]
    assert [(b["id"], b["status"], b["rank"], b["ranked_bids"]) for b in lost] == [(ids["alpha"], "unsuccessful", 2, 2)]
    assert lost[0]["scores"] == {"technical": "60.00", "environmental": "50.00"}
    assert lost[0]["points"]["price"] == "60.00" and lost[0]["reasons"]  # French by default
    assert "2 sur 2" in lost[0]["reasons"][0] and "Société beta" not in json.dumps(lost)
    public = client.get(f"/api/v1/calls/{call['id']}")  # anonymous
    assert public.status_code == 200
    body = public.get_json()
    assert body["awards"] == [
        {
            "lot_id": lot_id,
            "number": 1,
            "status": "awarded",
            "supplier": "Société beta",
            "amount_eur": "500000.00",
            "awarded_at": body["awards"][0]["awarded_at"],
        }
    ]
    assert "bids" not in body and "Société alpha" not in json.dumps(body)  # `bids_opened` says only that
    listed = client.get("/api/v1/calls?status=awarded").get_json()["items"]
    assert [c["id"] for c in listed] == [call["id"]]


def test_the_bids_of_a_call_are_listed_in_as_many_statements_for_six_bids_as_for_two(client, db, clock, query_counter):
    """The evaluators' list of bids loads each bid's supplier, scores and documents with the bids."""
    clock.move_to(factories.CALLS_NOW)
    group, _orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord-count@x.fr"
    calls = []
    for count in (2, 6):
        call = factories.call(coordinator, group, title=f"Appel à {count} offres", publish=True)
        for n in range(count):
            company = factories.supplier_company(trades=("09310000",), name=f"Fournisseur {count}-{n}")
            bidder = factories.user("supplier", email=f"s{count}-{n}@x.fr", supplier=company)
            factories.bid(bidder, call, f"{500000 + n}.00")
        calls.append(call.id)
    db.session.commit()
    clock.move_to(factories.CALLS_DEADLINE + timedelta(minutes=5))
    headers = api_token(client, "coord-count@x.fr")
    counts = []
    for call_id in calls:
        path = f"/api/v1/calls/{call_id}/bids"
        assert client.get(path, headers=headers).status_code == 200  # closes the call and opens its bids
        with query_counter() as counted:
            listed = client.get(path, headers=headers)
        assert listed.status_code == 200 and all(item["supplier"] for item in listed.get_json()["items"])
        counts.append(counted.value)
    assert counts[0] == counts[1], counts
