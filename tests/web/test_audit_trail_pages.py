"""The audit trail read by administrators: GET /api/v1/audit and /admin/audit, with filters and pages; refusals and
failed logins recorded from real requests; a sealed bid's amount never shown in the trail."""

from __future__ import annotations

import json

import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.audit.services import record
from tests import factories
from tests.conftest import api_token, english, login

ADMIN = "admin@dijon-metropole.example.fr"


def _admin(db):
    admin = factories.user("admin", email=ADMIN)
    db.session.commit()
    return admin


def test_audit_api_answers_401_anonymous_403_non_admins_and_200_admins(client, db):
    _admin(db)
    buyer = factories.user("buyer")
    db.session.commit()
    assert client.get("/api/v1/audit").status_code == 401
    refused = client.get("/api/v1/audit", headers=api_token(client, buyer.email))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    answer = client.get("/api/v1/audit", headers=api_token(client, ADMIN))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["page"] == 1 and body["pages"] == 1
    kinds = [item["kind"] for item in body["items"]]
    # newest first: the admin's token, the buyer's refusal, the buyer's token and both API logins
    assert kinds[:2] == ["token.issued", "login"] and "permission.refused" in kinds
    refusal = next(item for item in body["items"] if item["kind"] == "permission.refused")
    assert refusal["actor_email"] == buyer.email and refusal["details"]["path"] == "/api/v1/audit"
    assert refusal["address"] == "127.0.0.1" and len(refusal["entry_hash"]) == 64


def test_audit_api_filters_by_kind_actor_organization_and_dates_and_pages_by_fifty(client, db):
    admin = _admin(db)
    buyer = factories.user("buyer")
    for number in range(55):
        record(db.session, buyer, "needs.imported", ("organization", buyer.organization_id), needs=number)
    for number in range(3):
        record(db.session, None, "call.closed", ("call", number + 1), by="scheduler")
    db.session.commit()
    headers = api_token(client, ADMIN)

    def get(**query):
        answer = client.get("/api/v1/audit", query_string=query, headers=headers)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    first = get(kind="needs.imported")
    assert first["total"] == 55 and first["pages"] == 2 and len(first["items"]) == 50
    assert first["items"][0]["details"] == {"needs": 54}  # newest first
    assert len(get(kind="needs.imported", page=2)["items"]) == 5
    assert get(kind="call.closed")["total"] == 3
    assert get(actor=buyer.email)["total"] == 55 and get(actor=str(buyer.id))["total"] == 55
    assert get(actor=admin.email)["total"] == 2  # its API login and token
    assert get(organization=buyer.organization_id)["total"] == 55
    assert get(since="2000-01-01", until="2000-12-31")["total"] == 0
    today = get(kind="call.closed", since="2000-01-01", until="2999-01-01T00:00:00Z")
    assert today["total"] == 3
    bad = client.get("/api/v1/audit", query_string={"kind": "nothing", "since": "yesterday"}, headers=headers)
    assert bad.status_code == 400 and "since" in bad.get_json()["error"]["details"]["fields"]
    unknown = client.get("/api/v1/audit", query_string={"kind": "nothing"}, headers=headers)
    assert unknown.status_code == 400 and "kind" in unknown.get_json()["error"]["details"]["fields"]


def test_audit_api_is_documented_in_the_openapi_spec(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/audit"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"since", "until", "kind", "actor", "page"}
    assert {"200", "401", "403"} <= set(operation["responses"])
    assert "AuditEventOut" in spec["components"]["schemas"]


def test_a_refused_page_and_a_failed_login_are_recorded_with_the_address(client, db):
    buyer = factories.user("buyer")
    db.session.commit()
    assert login(client, "nobody@example.fr", "not the password").status_code == 401
    assert login(client, buyer.email).status_code == 302
    assert client.get("/admin/users").status_code == 403
    entries = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.position)))
    assert [e.kind for e in entries] == ["login.failed", "login", "permission.refused"]
    assert entries[0].details == {"email": "nobody@example.fr"} and entries[0].address == "127.0.0.1"
    assert entries[2].actor_id == buyer.id and entries[2].details["endpoint"] == "organizations.users"


def test_audit_page_is_for_admins_linked_from_their_menu_and_filters(client, db):
    _admin(db)
    buyer = factories.user("buyer", email="buyer@chu.example.fr")
    db.session.commit()
    login(client, buyer.email)
    assert client.get("/admin/audit").status_code == 403
    admin_client = client.application.test_client()
    login(admin_client, ADMIN)
    home = admin_client.get("/").get_data(as_text=True)
    assert 'href="/admin/audit"' in home and "Journal d’audit" in home
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "Accès refusé" in page and buyer.email in page and "Connexion" in page
    filtered = admin_client.get("/admin/audit", query_string={"kind": "login", "actor": ADMIN})
    assert filtered.status_code == 200
    text = filtered.get_data(as_text=True)
    assert ADMIN in text and buyer.email not in text
    bad = admin_client.get("/admin/audit", query_string={"since": "31/02/2026"})
    assert bad.status_code == 400
    english(admin_client)
    assert "Permission refused" in admin_client.get("/admin/audit").get_data(as_text=True)


def test_a_bids_amount_never_appears_in_the_audit_trail_before_the_deadline(client, db, clock):
    """The bid submitted, replaced and withdrawn: the trail (its rows, the API, every page) holds ids, the lot and
    the receipt's hash, never the amounts."""
    _admin(db)
    group, _, coordinator = factories.constituted_group()
    call = factories.call(coordinator, group, publish=True)
    supplier = factories.user("supplier")
    db.session.commit()
    headers = api_token(client, supplier.email)
    lot_id = call.lots[0].id
    for amount in ("987654.32", "876543.21"):
        answer = client.post(
            f"/api/v1/calls/{call.id}/bids", json={"lot_id": lot_id, "amount_eur": amount}, headers=headers
        )
        assert answer.status_code == 201, answer.get_json()
    bid_id = answer.get_json()["id"]
    assert client.delete(f"/api/v1/bids/{bid_id}", headers=headers).status_code in (200, 204)
    kinds = set(db.session.scalars(sa.select(AuditEvent.kind)))
    assert {"bid.submitted", "bid.replaced", "bid.withdrawn"} <= kinds

    admin_headers = api_token(client, ADMIN)
    shown = [json.dumps([e.details for e in db.session.scalars(sa.select(AuditEvent))])]
    shown.append(client.get("/api/v1/audit", headers=admin_headers).get_data(as_text=True))
    admin_client = client.application.test_client()
    login(admin_client, ADMIN)
    shown.append(admin_client.get("/admin/audit").get_data(as_text=True))
    english(admin_client)
    shown.append(admin_client.get("/admin/audit").get_data(as_text=True))
    for text in shown:
        for amount in ("987654", "987 654", "987\u202f654", "876543", "876 543", "876\u202f543", "654,32", "654.32"):
            assert amount not in text


def test_audit_page_query_count_does_not_grow_with_the_events_shown(client, db, query_counter):
    _admin(db)
    login(client, ADMIN)

    def add_events(count: int) -> None:
        for _ in range(count):
            record(db.session, factories.user("buyer"), "logout")
        db.session.commit()

    def queries() -> int:
        with query_counter() as count:
            assert client.get("/admin/audit").status_code == 200
        return count.value

    add_events(3)
    few = queries()
    add_events(40)
    assert queries() == few


def test_audit_filters_with_digits_python_cannot_read_or_too_large_never_give_a_server_error(client, db):
    """'²' and '٣' pass str.isdigit(); a 20-digit organization id is larger than a BIGINT: none may give a 5xx."""
    _admin(db)
    login(client, ADMIN)
    headers = api_token(client, ADMIN)
    for actor in ("²", "1²", "٣"):
        page = client.get("/admin/audit", query_string={"actor": actor})
        assert page.status_code == 200, actor
        answer = client.get("/api/v1/audit", query_string={"actor": actor}, headers=headers)
        assert answer.status_code == 200 and answer.get_json()["items"] == [], actor
    for organization in ("²", "9" * 20):
        page = client.get("/admin/audit", query_string={"organization": organization})
        assert page.status_code == 200, organization
        assert "Journal d’audit" in page.get_data(as_text=True)
