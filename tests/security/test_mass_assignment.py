"""Mass assignment: fields a client may not set are refused, never applied.

The API refuses (400 validation_error naming the field) every field its schema does not declare — ids, the owning
organization, the bidder, read-only status and amounts — and every status a client may not choose. Pages build
their objects from their forms' declared fields only: anything else posted is ignored (the need still belongs to the
buyer's organization, with the status the form's button chose). `version` is required to change a group (API.md);
a need's `version` is optional (documented so): without it the change applies, with a stale one it is refused.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.calls.models import Bid
from app.groups.models import PurchaseGroup
from app.needs.models import Need
from tests.conftest import api_token, login, post_form
from tests.security.world import BUYER_A, DEMO_PASSWORD, EMAILS, SUPPLIER_2, build_world

NEED = {
    "title": "Papier recyclé",
    "cpv_code": "30197630",
    "annual_amount_eur": "12000.00",
    "start_date": "2027-09-01",
    "duration_months": 24,
}


def _refused(response, field: str) -> None:
    assert response.status_code == 400, (field, response.status_code, response.get_json())
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"], (field, error)


def _world(session, new_client, role: str):
    world = build_world(session)
    session.commit()
    client = new_client()
    return world, client, api_token(client, EMAILS[role], DEMO_PASSWORD)


def test_a_new_need_cannot_name_its_organization_id_or_a_status_of_the_workflow(app, session, new_client):
    world, client, headers = _world(session, new_client, "buyer")
    other = world.ids["organization_id"]["other"]
    for extra in (
        {"organization_id": other},
        {"organization": "GDH"},
        {"id": 42},
        {"version": 3},
        {"total_amount_eur": "1.00"},
    ):
        _refused(client.post("/api/v1/needs", headers=headers, json={**NEED, **extra}), next(iter(extra)))
    for status in ("grouped", "withdrawn", "awarded"):
        _refused(client.post("/api/v1/needs", headers=headers, json={**NEED, "status": status}), "status")
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).where(Need.title == NEED["title"])) == 0


def test_a_need_change_cannot_move_it_to_another_organization_and_a_stale_version_is_refused(app, session, new_client):
    world, client, headers = _world(session, new_client, "buyer")
    need_id = world.ids["need_id"]["own"]
    url = f"/api/v1/needs/{need_id}"
    other = world.ids["organization_id"]["other"]
    for extra in ({"organization_id": other}, {"organization": "GDH"}, {"id": 42}, {"total_amount_eur": "1.00"}):
        _refused(client.patch(url, headers=headers, json=extra), next(iter(extra)))
    _refused(client.patch(url, headers=headers, json={"status": "grouped"}), "status")
    version = client.get(url, headers=headers).get_json()["version"]
    stale = client.patch(url, headers=headers, json={"title": "Titre changé", "version": version - 1})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"
    # Without a version (optional, documented): the change applies, to this need of this organization only.
    changed = client.patch(url, headers=headers, json={"description": "Précisé sans version."})
    assert changed.status_code == 200, changed.get_json()
    session.expire_all()
    need = session.get(Need, need_id)
    assert need.description == "Précisé sans version."
    assert need.organization_id == world.users["buyer"].organization_id


def test_a_group_change_needs_its_version_and_cannot_set_status_members_or_coordinator(app, session, new_client):
    world, client, headers = _world(session, new_client, "coordinator")
    group_id = world.ids["group_id"]["own"]
    url = f"/api/v1/groups/{group_id}"
    version = client.get(url, headers=headers).get_json()["version"]
    _refused(client.patch(url, headers=headers, json={"name": "Renommé sans version"}), "version")
    for extra in (
        {"status": "awarded"},
        {"coordinator_id": world.users["buyer"].id},
        {"coordinator_organization_id": world.ids["organization_id"]["own"]},
        {"id": 42},
        {"members": []},
    ):
        _refused(client.patch(url, headers=headers, json={"version": version, **extra}), next(iter(extra)))
    session.expire_all()
    group = session.get(PurchaseGroup, group_id)
    assert (group.status, group.version) == ("constituted", version)


def test_a_supplier_cannot_bid_in_another_suppliers_name_or_set_what_the_server_records(app, session, new_client):
    world, client, headers = _world(session, new_client, "supplier")
    call_id = world.ids["call_id"]["own"]
    lot_id = client.get(f"/api/v1/calls/{call_id}", headers=headers).get_json()["lots"][0]["id"]
    own = world.users["supplier"].supplier_id
    from app.accounts.models import User

    rival = session.scalar(sa.select(User).where(User.email == SUPPLIER_2))

    def bids_of(supplier_id):
        session.expire_all()
        return session.scalar(sa.select(sa.func.count()).where(Bid.supplier_id == supplier_id))

    before = bids_of(rival.supplier_id), bids_of(own)
    body = {"lot_id": lot_id, "amount_eur": "99999.00"}
    for extra in (
        {"supplier_id": rival.supplier_id},
        {"submitted_by_id": rival.id},
        {"status": "awarded"},
        {"submitted_at": "2026-01-01T00:00:00+00:00"},
        {"receipt_sha256": "0" * 64},
        {"id": 42},
        {"call_id": world.ids["call_id"]["other"]},
    ):
        _refused(
            client.post(f"/api/v1/calls/{call_id}/bids", headers=headers, json={**body, **extra}), next(iter(extra))
        )
    assert (bids_of(rival.supplier_id), bids_of(own)) == before


def test_a_buyer_imports_spend_for_its_own_organization_only(app, session, new_client):
    world, client, headers = _world(session, new_client, "buyer")
    import io

    from tests import factories

    ledger = factories.ledger("15/03/2025;Papeterie Dupont;;30197630;1234,50;Ramettes;21000")
    response = client.post(
        "/api/v1/spend/import",
        headers=headers,
        data={"file": (io.BytesIO(ledger), "ub.csv"), "organization": "GDH"},
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_need_forms_ignore_fields_they_do_not_declare(app, session, new_client):
    """A page posting organization_id, status or id along with a need creates the buyer's own need, as the form's
    button says (draft), whatever else was sent."""
    world = build_world(session)
    session.commit()
    client = new_client()
    assert login(client, BUYER_A, DEMO_PASSWORD).status_code == 302
    response = post_form(
        client,
        "/needs/new",
        {
            "title": "Papier recyclé (formulaire)",
            "cpv_code": "30197630",
            "annual_amount": "12000,00",
            "start_date": "2027-09-01",
            "duration_months": "24",
            "save_draft": "1",
            "organization_id": str(world.ids["organization_id"]["other"]),
            "status": "grouped",
            "id": "42",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    session.expire_all()
    need = session.scalar(sa.select(Need).where(Need.title == "Papier recyclé (formulaire)"))
    assert (need.organization_id, need.status) == (world.users["buyer"].organization_id, "draft")
    assert need.id != 42
