import time
from datetime import UTC, datetime

import pytest
import time_machine

from app.clock import paris_today
from tests import factories
from tests.conftest import api_token, english


@pytest.fixture
def world(db):
    orgs = {code: factories.organization(code) for code in ("DM", "CHU", "UB")}
    emails = {
        "coord": ("coordinator", "DM"),
        "dm": ("buyer", "DM"),
        "chu": ("buyer", "CHU"),
        "ub": ("buyer", "UB"),
        "sup": ("supplier", None),
        "out": ("buyer", None),
    }
    for key, (role, code) in emails.items():
        org = orgs[code] if code else (factories.organization("OUT") if role == "buyer" else None)
        factories.user(role, email=f"{key}@x.fr", organization_=org)
    needs = {}
    for code, annual, months in (("CHU", "100000.00", 36), ("UB", "80000.00", 12), ("DM", "20000.00", 12)):
        needs[code] = factories.need(orgs[code], title=f"Électricité {code}", annual=annual, months=months).id
    db.session.commit()
    return needs


def tokens(client, *keys):
    return {key: api_token(client, f"{key}@x.fr") for key in keys}


def test_full_flow_from_forming_to_constituted(client, world):
    t = tokens(client, "coord", "dm", "chu", "ub")
    response = client.post(
        "/api/v1/groups",
        json={"name": "Électricité 2027", "need_ids": list(world.values()), "coordinator_organization": "DM"},
        headers=t["coord"],
    )
    assert response.status_code == 201
    group = response.get_json()
    assert group["status"] == "forming" and isinstance(group["version"], int)
    assert {m["organization"]: m["status"] for m in group["members"]} == {
        "DM": "invited",
        "CHU": "invited",
        "UB": "invited",
    }
    assert group["total_amount_eur"] == "400000.00" and group["procedure"]["code"] == "formal"
    gid = group["id"]

    early = client.post(f"/api/v1/groups/{gid}/constitute", headers=t["coord"])
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "members_pending"

    chu_need = str(world["CHU"])
    confirmed = client.post(
        f"/api/v1/groups/{gid}/confirm",
        headers=t["chu"],
        json={"adjustments": {chu_need: {"annual_amount_eur": "90000.00"}}},
    )
    assert confirmed.status_code == 200
    chu = next(m for m in confirmed.get_json()["members"] if m["organization"] == "CHU")
    assert chu["status"] == "confirmed" and chu["annual_amount_eur"] == "90000.00"
    for key in ("dm", "ub"):
        assert client.post(f"/api/v1/groups/{gid}/confirm", headers=t[key], json={}).status_code == 200
    for key in ("dm", "chu", "ub"):
        signed = client.post(
            f"/api/v1/groups/{gid}/sign",
            headers=t[key],
            json={"signed_on": "2026-11-02", "deliberation_reference": f"DEL-{key}"},
        )
        assert signed.status_code == 200, signed.get_json()
    done = client.post(f"/api/v1/groups/{gid}/constitute", headers=t["coord"])
    assert done.status_code == 200 and done.get_json()["status"] == "constituted"
    assert client.get(f"/api/v1/needs/{world['CHU']}", headers=t["chu"]).get_json()["status"] == "grouped"
    log = client.get(f"/api/v1/groups/{gid}/events", headers=t["chu"]).get_json()["items"]
    assert log[0]["action"] == "constituted" and log[-1]["action"] == "formed"


def test_patch_with_an_outdated_version_gives_409_stale_version(client, world):
    t = tokens(client, "coord")
    group = client.post(
        "/api/v1/groups", json={"name": "G", "need_ids": [world["CHU"], world["UB"]]}, headers=t["coord"]
    ).get_json()
    first = client.patch(
        f"/api/v1/groups/{group['id']}", json={"version": group["version"], "name": "G2"}, headers=t["coord"]
    )
    assert first.status_code == 200 and first.get_json()["version"] > group["version"]
    second = client.patch(
        f"/api/v1/groups/{group['id']}", json={"version": group["version"], "name": "G3"}, headers=t["coord"]
    )
    assert second.status_code == 409
    error = second.get_json()["error"]
    assert error["code"] == "stale_version" and error["details"]["current"]["name"] == "G2"
    missing = client.patch(f"/api/v1/groups/{group['id']}", json={"name": "x"}, headers=t["coord"])
    assert missing.status_code == 400 and "version" in missing.get_json()["error"]["details"]["fields"]


def test_roles_and_organizations_are_checked(client, world):
    t = tokens(client, "coord", "chu", "ub", "sup", "out")
    assert (
        client.post("/api/v1/groups", json={"name": "G", "need_ids": [world["CHU"]]}, headers=t["chu"]).status_code
        == 403
    )
    group = client.post(
        "/api/v1/groups", json={"name": "G", "need_ids": [world["CHU"], world["UB"]]}, headers=t["coord"]
    ).get_json()
    gid = group["id"]
    assert client.get(f"/api/v1/groups/{gid}", headers=t["out"]).status_code == 404
    assert client.get(f"/api/v1/groups/{gid}", headers=t["sup"]).status_code == 403
    assert client.post(f"/api/v1/groups/{gid}/confirm", headers=t["out"], json={}).status_code == 404
    bring_other = client.post(
        f"/api/v1/groups/{gid}/confirm", headers=t["chu"], json={"need_ids": [world["CHU"], world["UB"]]}
    )
    assert bring_other.status_code == 403
    assert client.post(f"/api/v1/groups/{gid}/constitute", headers=t["chu"]).status_code == 403
    negative = client.post(
        f"/api/v1/groups/{gid}/confirm",
        headers=t["chu"],
        json={"adjustments": {str(world["CHU"]): {"annual_amount_eur": "-5"}}},
    )
    assert negative.status_code == 400


def test_decline_then_reinvite(client, world):
    t = tokens(client, "coord", "ub")
    gid = client.post(
        "/api/v1/groups", json={"name": "G", "need_ids": [world["CHU"], world["UB"]]}, headers=t["coord"]
    ).get_json()["id"]
    no_reason = client.post(f"/api/v1/groups/{gid}/decline", headers=t["ub"], json={})
    assert no_reason.status_code == 400 and "reason" in no_reason.get_json()["error"]["details"]["fields"]
    declined = client.post(f"/api/v1/groups/{gid}/decline", headers=t["ub"], json={"reason": "Marché en cours"})
    ub = next(m for m in declined.get_json()["members"] if m["organization"] == "UB")
    assert ub["status"] == "declined" and ub["decline_reason"] == "Marché en cours"
    again = client.post(f"/api/v1/groups/{gid}/invite", headers=t["coord"], json={"organization": "UB"})
    assert next(m for m in again.get_json()["members"] if m["organization"] == "UB")["status"] == "invited"


@pytest.mark.parametrize(
    "send",
    [
        pytest.param({}, id="no body at all"),
        pytest.param({"json": {}}, id="an empty JSON object"),
        pytest.param({"data": b"", "content_type": "application/json"}, id="an empty JSON body"),
    ],
)
def test_sign_needs_no_body_and_records_today_in_paris(client, new_client, world, clock, send):
    """API.md: `POST /groups/{id}/sign` needs no body; the date is then today in Europe/Paris."""
    t = tokens(client, "coord", "chu")
    gid = client.post(
        "/api/v1/groups", json={"name": "G", "need_ids": [world["CHU"], world["UB"]]}, headers=t["coord"]
    ).get_json()["id"]
    assert client.post(f"/api/v1/groups/{gid}/confirm", headers=t["chu"], json={}).status_code == 200
    response = client.post(f"/api/v1/groups/{gid}/sign", headers=t["chu"], **send)
    assert response.status_code == 200, response.get_json()
    chu = next(m for m in response.get_json()["members"] if m["organization"] == "CHU")
    assert chu["status"] == "signed"
    assert chu["signed_on"] == paris_today().isoformat() == "2026-11-23"
    assert chu["deliberation_reference"] == ""
    group_page = english(new_client(), "chu@x.fr").get(f"/groups/{gid}").get_data(as_text=True)
    assert "Your organization signed the convention on Nov 23, 2026.</p>" in group_page.replace("\u202f", " ")


def test_sign_records_the_reference_and_date_when_given_and_refuses_a_future_date(client, world, clock):
    t = tokens(client, "coord", "chu")
    gid = client.post(
        "/api/v1/groups", json={"name": "G", "need_ids": [world["CHU"], world["UB"]]}, headers=t["coord"]
    ).get_json()["id"]
    client.post(f"/api/v1/groups/{gid}/confirm", headers=t["chu"], json={})
    future = client.post(f"/api/v1/groups/{gid}/sign", headers=t["chu"], json={"signed_on": "2026-11-24"})
    assert future.status_code == 400
    assert list(future.get_json()["error"]["details"]["fields"]) == ["signed_on"]
    response = client.post(
        f"/api/v1/groups/{gid}/sign",
        headers=t["chu"],
        json={"signed_on": "2026-10-01", "deliberation_reference": " Délibération CA 2026-41 "},
    )
    assert response.status_code == 200, response.get_json()
    chu = next(m for m in response.get_json()["members"] if m["organization"] == "CHU")
    assert (chu["signed_on"], chu["deliberation_reference"]) == ("2026-10-01", "Délibération CA 2026-41")
    again = client.get(f"/api/v1/groups/{gid}", headers=t["coord"]).get_json()
    assert next(m for m in again["members"] if m["organization"] == "CHU")["deliberation_reference"] == (
        "Délibération CA 2026-41"
    )


def test_sign_without_a_date_records_today_in_paris_whatever_the_server_time_zone(client, world, monkeypatch):
    """22:30 UTC on 30 June is already 1 July in Paris; a server set to Honolulu time (still 30 June) must not
    record the day before."""
    try:
        with monkeypatch.context() as patch, time_machine.travel(datetime(2026, 6, 30, 22, 30, tzinfo=UTC), tick=False):
            patch.setenv("TZ", "Pacific/Honolulu")
            time.tzset()
            t = tokens(client, "coord", "chu")
            gid = client.post(
                "/api/v1/groups", json={"name": "G", "need_ids": [world["CHU"], world["UB"]]}, headers=t["coord"]
            ).get_json()["id"]
            client.post(f"/api/v1/groups/{gid}/confirm", headers=t["chu"], json={})
            response = client.post(
                f"/api/v1/groups/{gid}/sign", headers=t["chu"], json={"deliberation_reference": "D1"}
            )
    finally:
        time.tzset()
    assert response.status_code == 200, response.get_json()
    chu = next(m for m in response.get_json()["members"] if m["organization"] == "CHU")
    assert chu["status"] == "signed" and chu["signed_on"] == "2026-07-01"


def test_lots_crud_with_versions(client, world):
    t = tokens(client, "coord")
    gid = client.post(
        "/api/v1/groups", json={"name": "G", "need_ids": [world["CHU"], world["UB"]]}, headers=t["coord"]
    ).get_json()["id"]
    body = {
        "title": "Électricité",
        "cpv_code": "09310000-5",
        "shares": [
            {"organization": "CHU", "annual_amount_eur": "100000.00"},
            {"organization": "UB", "annual_amount_eur": "80000.00", "quantity": "3"},
        ],
    }
    lot = client.post(f"/api/v1/groups/{gid}/lots", json=body, headers=t["coord"])
    assert lot.status_code == 201
    lot = lot.get_json()
    # total: CHU 100 000 × 36/12 + UB 80 000 × 12/12 = 380 000; per year 180 000
    assert lot["number"] == 1 and lot["estimated_amount_eur"] == lot["total_amount_eur"] == "380000.00"
    assert lot["annual_amount_eur"] == "180000.00"
    assert [s["total_amount_eur"] for s in lot["shares"]] == ["300000.00", "80000.00"]
    ok = client.patch(
        f"/api/v1/groups/{gid}/lots/{lot['id']}",
        json={**body, "title": "Lot 1", "version": lot["version"]},
        headers=t["coord"],
    )
    assert ok.status_code == 200
    stale = client.patch(
        f"/api/v1/groups/{gid}/lots/{lot['id']}", json={**body, "version": lot["version"]}, headers=t["coord"]
    )
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    assert client.delete(f"/api/v1/groups/{gid}/lots/{lot['id']}", headers=t["coord"]).status_code == 204
    assert client.get(f"/api/v1/groups/{gid}", headers=t["coord"]).get_json()["lots"] == []


def test_the_group_list_is_paginated_with_a_query_count_that_does_not_grow(client, db, world, query_counter):
    orgs = [factories.organization(f"G{n}") for n in range(3)]
    factories.bulk_groups(orgs, 10)
    db.session.commit()
    t = tokens(client, "coord")

    def listing(path="/api/v1/groups"):
        with query_counter() as count:
            response = client.get(path, headers=t["coord"])
        assert response.status_code == 200, response.get_json()
        return count.value, response.get_json()

    few, body = listing()
    assert len(body["items"]) == 10 and body["next"] is None
    assert {m["organization"] for m in body["items"][0]["members"]} == {"G0", "G1", "G2"}
    assert body["items"][0]["lots"][0]["shares"]
    factories.bulk_groups(orgs, 990)
    db.session.commit()
    many, body = listing()
    assert many == few, (few, many)
    assert len(body["items"]) == 50 and body["next"] == "/api/v1/groups?page=2&per_page=50"
    seen = {g["id"] for g in body["items"]}
    _, second = listing(body["next"])
    assert len(second["items"]) == 50 and not seen & {g["id"] for g in second["items"]}
    _, last = listing("/api/v1/groups?page=5&per_page=200")
    assert len(last["items"]) == 200 and last["next"] is None


@pytest.mark.parametrize("query", ["page=0", "per_page=0", "per_page=201", "page=x"])
def test_the_group_list_refuses_pages_out_of_bounds(client, world, query):
    response = client.get(f"/api/v1/groups?{query}", headers=tokens(client, "coord")["coord"])
    assert response.status_code == 400
    assert set(response.get_json()["error"]["details"]["fields"]) & {"page", "per_page"}


def test_the_execution_mode_is_read_and_changed_through_the_api(client, world):
    t = {key: api_token(client, f"{key}@x.fr") for key in ("coord",)}
    group = client.post(
        "/api/v1/groups", json={"name": "G", "need_ids": [world["CHU"], world["UB"]]}, headers=t["coord"]
    ).get_json()
    assert group["execution_mode"] == "coordinator_signs"
    bad = client.patch(
        f"/api/v1/groups/{group['id']}", json={"version": group["version"], "execution_mode": "x"}, headers=t["coord"]
    )
    assert bad.status_code == 400
    changed = client.patch(
        f"/api/v1/groups/{group['id']}",
        json={"version": group["version"], "execution_mode": "coordinator_for_all"},
        headers=t["coord"],
    )
    assert changed.status_code == 200 and changed.get_json()["execution_mode"] == "coordinator_for_all"


@pytest.mark.parametrize("key", ["²", "١٢", str(2**63), "-1"])
def test_adjustments_keyed_by_anything_but_a_need_id_are_refused_not_a_500(client, world, key):
    t = tokens(client, "coord", "chu")
    group = client.post("/api/v1/groups", json={"name": "G", "need_ids": list(world.values())}, headers=t["coord"])
    assert group.status_code == 201, group.get_json()
    response = client.post(
        f"/api/v1/groups/{group.get_json()['id']}/confirm",
        headers=t["chu"],
        json={"adjustments": {key: {"annual_amount_eur": "90000.00"}}},
    )
    assert response.status_code == 400, response.get_json()
    assert "adjustments" in response.get_json()["error"]["details"]["fields"]
