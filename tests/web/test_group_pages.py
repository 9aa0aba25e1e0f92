"""The pooled-purchase group pages: who sees and does what, the whole flow through the HTML forms, editing with stale
versions, lots, the convention in French and English, the activity log, notifications and the home panels."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.groups import services
from app.groups.models import GroupEvent, Lot, Membership, PurchaseGroup
from app.needs.models import Need
from app.notifications.models import Notification
from app.reference.models import CpvCode
from tests import factories
from tests.conftest import csrf_from, english, login

SIGNED_ON = date.today() - timedelta(days=3)

# --- set-up ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def world(db):
    dm = factories.organization("DM", name="Dijon Métropole", siret="24210031400010")
    chu = factories.organization("CHU", name="CHU Dijon Bourgogne", siret="26210006300018", kind="hospital")
    ub = factories.organization("UB", name="Université de Bourgogne", kind="university")
    gdh = factories.organization("GDH", name="Grand Dijon Habitat", kind="social_housing")
    out = factories.organization("OUT", name="Outsider")
    w = SimpleNamespace(
        dm=dm,
        chu=chu,
        ub=ub,
        gdh=gdh,
        coord=factories.user("coordinator", email="coord@dm.example.fr", organization_=dm),
        dm_buyer=factories.user("buyer", email="achat@dm.example.fr", organization_=dm),
        chu_buyer=factories.user("buyer", email="anne@chu.example.fr", organization_=chu),
        ub_buyer=factories.user("buyer", email="paul@ub.example.fr", organization_=ub),
        gdh_buyer=factories.user("buyer", email="lea@gdh.example.fr", organization_=gdh),
        outsider=factories.user("buyer", email="olga@out.example.fr", organization_=out),
        admin=factories.user("admin", email="admin@example.fr"),
        supplier=factories.user("supplier", email="sales@supplier.example.fr"),
    )
    w.needs = SimpleNamespace(
        chu=factories.need(chu, title="Électricité des hôpitaux", annual="100000.00", months=36),
        ub=factories.need(ub, title="Électricité des campus", annual="80000.00", months=12, start=date(2027, 3, 1)),
        gdh=factories.need(gdh, title="Électricité des résidences", annual="25000.00", months=24),
        dm=factories.need(dm, title="Électricité des bâtiments", annual="20000.00", months=36),
    )
    db.session.commit()
    return w


def formed(db, w, *, name="Électricité 2027", needs=("chu", "ub", "gdh", "dm"), **kw) -> PurchaseGroup:
    group = services.form_group(
        db.session,
        w.coord,
        name=name,
        need_ids=[getattr(w.needs, key).id for key in needs],
        scope_cpv_prefix="0931",
        **kw,
    )
    db.session.commit()
    return group


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


CONFIRMED = {"confirmed": "yes"}  # the explicit confirmation of an action that cannot be undone (app/confirmation.py)


def post(client, url: str, data: dict | None = None):
    """POST with the session's CSRF token (one per session, read from any page)."""
    token = csrf_from(client.get("/notifications").get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token})


def fresh(db, model, ident):
    db.session.expire_all()
    return db.session.get(model, ident)


def membership(db, group_id: int, org) -> Membership:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(Membership).where(Membership.group_id == group_id, Membership.organization_id == org.id)
    )


def flashes(text: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", m).strip()
        for m in re.findall(r'<div class="alert alert-\w+ alert-dismissible[^>]*>(.*?)<button', text, re.S)
    ]


# --- who sees what --------------------------------------------------------------------------------------------------


def test_coordinator_opens_every_group_page(client, db, world):
    group = formed(db, world)
    english(client, "coord@dm.example.fr")
    for url in (
        "/groups",
        "/groups/new",
        f"/groups/{group.id}",
        f"/groups/{group.id}/edit",
        f"/groups/{group.id}/convention",
        f"/groups/{group.id}/convention?lang=en",
    ):
        assert client.get(url).status_code == 200, url


def test_the_lot_share_amounts_say_they_are_yearly_and_excluding_vat(client, db, world):
    group = formed(db, world)
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}"))
    assert '<th scope="col" class="min-w-10">Yearly amount excl. VAT (€)</th>' in text
    assert "Yearly amount (€)" not in text


def test_member_buyer_sees_the_group_and_its_convention_but_not_the_coordinator_pages(client, db, world):
    group = formed(db, world)
    english(client, "anne@chu.example.fr")
    for url in ("/groups", f"/groups/{group.id}", f"/groups/{group.id}/convention"):
        assert client.get(url).status_code == 200, url
    for url in ("/groups/new", f"/groups/{group.id}/edit", f"/groups/{group.id}/lots/1/edit"):
        assert client.get(url).status_code == 403, url


def test_buyer_of_a_non_member_organization_gets_not_found_and_changes_nothing(client, db, world):
    group = formed(db, world)
    english(client, "olga@out.example.fr")
    text = page(client.get("/groups"))
    assert "Électricité 2027" not in text and "Your organization is not invited to any group yet:" in text
    for url in (f"/groups/{group.id}", f"/groups/{group.id}/convention", f"/groups/{group.id}/convention?lang=en"):
        assert client.get(url).status_code == 404, url
    for endpoint, data in (
        ("confirm", {}),
        ("decline", {"decline-reason": "Non"}),
        ("propose", {"propose-need_id": str(world.needs.chu.id)}),
        ("sign", {"sign-signed_on": SIGNED_ON.isoformat(), "sign-deliberation_reference": "X"}),
    ):
        assert post(client, f"/groups/{group.id}/{endpoint}", data).status_code == 404, endpoint
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(GroupEvent.id))) == 1  # only "formed"


def test_supplier_is_refused_every_group_page(client, db, world):
    group = formed(db, world)
    english(client, "sales@supplier.example.fr")
    for url in (
        "/groups",
        "/groups/new",
        f"/groups/{group.id}",
        f"/groups/{group.id}/edit",
        f"/groups/{group.id}/convention",
    ):
        assert client.get(url).status_code == 403, url
    for endpoint in ("confirm", "decline", "sign", "invite", "constitute", "abandon", "lots", "lots/suggested"):
        assert post(client, f"/groups/{group.id}/{endpoint}").status_code == 403, endpoint
    assert 'href="/groups"' not in page(client.get("/"))


def test_anonymous_visitor_is_sent_to_the_login_page(client, db, world):
    group = formed(db, world)
    for url in (
        "/groups",
        "/groups/new",
        f"/groups/{group.id}",
        f"/groups/{group.id}/edit",
        f"/groups/{group.id}/convention",
        f"/groups/{group.id}/lots/1/edit",
        "/notifications",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    token = csrf_from(client.get("/login").get_data(as_text=True))
    for endpoint in ("confirm", "constitute", "invite"):
        response = client.post(f"/groups/{group.id}/{endpoint}", data={"csrf_token": token})
        assert response.status_code == 302 and "/login" in response.headers["Location"], endpoint


def test_admin_reads_groups_without_any_action(client, db, world):
    group = formed(db, world)
    english(client, "admin@example.fr")
    text = page(client.get(f"/groups/{group.id}"))
    assert "Électricité 2027" in text and "Activity log" in text
    assert "<form" not in text.split('id="content"')[1].split("<footer")[0]  # not a single action form
    assert client.get(f"/groups/{group.id}/convention").status_code == 200
    assert "Électricité 2027" in page(client.get("/groups"))
    assert client.get("/groups/new").status_code == 403
    assert client.get(f"/groups/{group.id}/edit").status_code == 403
    for endpoint in ("constitute", "request-signatures", "abandon", "invite", "confirm", "sign", "lots/suggested"):
        assert post(client, f"/groups/{group.id}/{endpoint}").status_code == 403, endpoint
    assert fresh(db, PurchaseGroup, group.id).status == "forming"


def test_coordinator_cannot_answer_for_a_member(client, db, world):
    group = formed(db, world)
    english(client, "coord@dm.example.fr")
    for endpoint in ("confirm", "decline", "sign", "propose"):
        assert post(client, f"/groups/{group.id}/{endpoint}").status_code == 403, endpoint


def test_unknown_group_is_not_found(client, db, world):
    english(client, "coord@dm.example.fr")
    assert client.get("/groups/999999").status_code == 404
    assert client.get("/groups/999999/convention").status_code == 404


# --- the list -------------------------------------------------------------------------------------------------------


def test_list_shows_status_coordinator_members_total_and_planned_publication(client, db, world):
    formed(db, world, planned_publication_on=date(2027, 1, 15))
    english(client, "coord@dm.example.fr")
    text = page(client.get("/groups"))
    row = text.split('class="group-name"')[1].split("</tr>")[0]
    assert "Électricité 2027" in row and "Forming" in row and ">DM</abbr>" in row
    assert re.search(r'members-count">4\b', row)
    # CHU 100 000 × 3 + UB 80 000 × 1 + GDH 25 000 × 2 + DM 20 000 × 3 = 490 000
    assert "€490,000.00" in row and "€225,000.00 per year" in row
    assert "Jan 15, 2027" in row
    assert "Form a group" in text


def test_list_filters_by_status(client, db, world):
    formed(db, world, name="Forming one")
    abandoned = formed(db, world, name="Dropped one", needs=("chu",))
    services.abandon_group(db.session, world.coord, abandoned, "Plus de besoin")
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = page(client.get("/groups?status=abandoned"))
    assert "Dropped one" in text and "Forming one" not in text


# --- forming a group through the form -------------------------------------------------------------------------------


def test_new_group_from_an_overlap_prefills_the_name_scope_and_ticks_the_needs(client, db, world):
    english(client, "coord@dm.example.fr")
    ids = f"{world.needs.chu.id},{world.needs.ub.id}"
    text = page(client.get(f"/groups/new?need_ids={ids}&scope=0931"))
    assert 'value="Group Electricity"' in text  # "Groupement <label>" once translated
    assert 'name="scope_cpv_prefix" type="text" value="0931"' in text
    assert re.search(rf'value="{world.needs.chu.id}" id="need-{world.needs.chu.id}"\s+checked', text)
    assert re.search(rf'value="{world.needs.ub.id}" id="need-{world.needs.ub.id}"\s+checked', text)
    assert not re.search(rf'value="{world.needs.gdh.id}" id="need-{world.needs.gdh.id}"\s+checked', text)
    assert '<option selected value="DM">' in text  # the coordinator's own organization by default
    named = page(client.get(f"/groups/new?need_ids={ids}&scope=0931&name=Groupement%20Électricité%20verte"))
    assert 'value="Groupement Électricité verte"' in named


def test_new_group_need_list_filters_by_cpv_prefix_and_keeps_the_ticked_needs(client, db, world):
    gas = factories.need(world.ub, title="Gaz des campus", cpv="09123000")
    draft = factories.need(world.chu, title="Brouillon", status="draft")
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = page(client.get("/groups/new?cpv=0912"))
    assert "Gaz des campus" in text and "Électricité des hôpitaux" not in text
    text = page(client.get(f"/groups/new?cpv=0912&need_ids={world.needs.chu.id}"))
    assert "Gaz des campus" in text and "Électricité des hôpitaux" in text  # ticked: always listed
    text = page(client.get("/groups/new"))
    assert "Brouillon" not in text and f'id="need-{gas.id}"' in text and f'id="need-{draft.id}"' not in text
    assert "A CPV code or prefix has 2 to 8 digits." in page(client.get("/groups/new?cpv=abc"))


def test_new_group_form_creates_the_group_invites_the_members_and_notifies_them(client, db, world):
    english(client, "coord@dm.example.fr")
    response = post(
        client,
        "/groups/new",
        {
            "name": "Électricité 2027",
            "scope_cpv_prefix": "0931",
            "coordinator_organization": "DM",
            "planned_publication_on": "2027-01-15",
            "need_ids": [str(world.needs.chu.id), str(world.needs.ub.id)],
        },
    )
    assert response.status_code == 302
    group = db.session.scalar(sa.select(PurchaseGroup))
    assert response.headers["Location"] == f"/groups/{group.id}"
    assert group.name == "Électricité 2027" and group.scope_cpv_prefix == "0931"
    assert group.planned_publication_on == date(2027, 1, 15) and group.coordinator_organization.code == "DM"
    assert sorted(m.organization.code for m in group.memberships) == ["CHU", "DM", "UB"]
    invited = set(db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "group_invitation")))
    assert invited == {world.chu_buyer.id, world.ub_buyer.id, world.dm_buyer.id}
    assert "is formed: its member organizations are invited." in page(client.get(response.headers["Location"]))


def test_new_group_form_shows_the_errors_and_keeps_the_input(client, db, world):
    english(client, "coord@dm.example.fr")
    response = post(client, "/groups/new", {"name": " ", "scope_cpv_prefix": "9x", "coordinator_organization": "DM"})
    assert response.status_code == 400
    text = page(response)
    assert "The name is required." in text and "Choose at least one need." in text
    assert "A CPV prefix has 2 to 8 digits." in text and 'value="9x"' in text
    assert db.session.scalar(sa.select(sa.func.count(PurchaseGroup.id))) == 0


# --- the whole flow through the HTML forms --------------------------------------------------------------------------


def test_the_whole_flow_from_ticked_needs_to_a_constituted_group(client, db, world, new_client):
    coordinator = english(client, "coord@dm.example.fr")
    n = world.needs
    form = page(coordinator.get(f"/groups/new?need_ids={n.chu.id},{n.ub.id},{n.gdh.id}&scope=0931"))
    assert "Form the group and invite the members" in form
    response = post(
        coordinator,
        "/groups/new",
        {
            "name": "Électricité verte 2027",
            "scope_cpv_prefix": "0931",
            "coordinator_organization": "DM",
            "need_ids": [str(n.chu.id), str(n.ub.id), str(n.gdh.id)],
        },
    )
    group_url = response.headers["Location"]
    group_id = int(group_url.rsplit("/", 1)[1])

    # CHU confirms with an adjusted amount (French decimal comma) and a quantity.
    chu = english(new_client(), "anne@chu.example.fr")
    text = page(chu.get(group_url))
    assert "Confirm our participation" in text and f'name="confirm-amount_{n.chu.id}"' in text
    response = post(
        chu,
        f"{group_url}/confirm",
        {
            "confirm-need_ids": str(n.chu.id),
            f"confirm-amount_{n.chu.id}": "90 000,50",
            f"confirm-quantity_{n.chu.id}": "1 200",
        },
    )
    assert response.status_code == 302
    assert membership(db, group_id, world.chu).status == "confirmed"
    group = fresh(db, PurchaseGroup, group_id)
    chu_need = next(gn for gn in group.group_needs if gn.need_id == n.chu.id)
    assert chu_need.annual_amount == Decimal("90000.50") and chu_need.quantity == Decimal("1200")
    assert fresh(db, Need, n.chu.id).annual_amount == Decimal("100000.00")  # the need itself is untouched
    text = page(chu.get(group_url))
    assert "Your organization's participation is confirmed." in text and "Sign the convention" in text
    assert "€90,000.50" in text and "recorded: €100,000.00" in text

    # GDH declines with a reason; the coordinator sees it and invites GDH again.
    gdh = english(new_client(), "lea@gdh.example.fr")
    assert post(gdh, f"{group_url}/decline", {"decline-reason": "  "}).status_code == 400
    assert membership(db, group_id, world.gdh).status == "invited"
    assert post(gdh, f"{group_url}/decline", {"decline-reason": "Contrat en cours jusqu'en 2029"}).status_code == 302
    assert membership(db, group_id, world.gdh).status == "declined"
    text = page(coordinator.get(group_url))
    row = text.split('data-member="GDH"')[1].split("</tr>")[0]
    assert "Declined" in row and "Contrat en cours jusqu'en 2029" in row and "Invite again" in row
    assert post(coordinator, f"{group_url}/invite", {"invite-organization": "GDH"}).status_code == 302
    assert membership(db, group_id, world.gdh).status == "invited"

    # Constituting asks first, then, too early, names who is pending.
    asked = post(coordinator, f"{group_url}/constitute")
    assert asked.status_code == 200 and "Yes, constitute the group" in page(asked)
    response = post(coordinator, f"{group_url}/constitute", CONFIRMED)
    assert response.status_code == 409  # the group page again, with who is pending
    text = page(response)
    message = next(m for m in flashes(text) if "cannot be constituted" in m)
    assert "Dijon Métropole (has not answered yet)" in message
    assert "CHU Dijon Bourgogne (has not signed yet)" in message
    assert "Grand Dijon Habitat (has not answered yet)" in message
    assert fresh(db, PurchaseGroup, group_id).status == "forming"

    # Everyone answers through the forms, then signs the settled terms (a later change would void the signatures).
    people = (
        ("lea@gdh.example.fr", world.gdh),
        ("paul@ub.example.fr", world.ub),
        ("achat@dm.example.fr", world.dm),
        ("anne@chu.example.fr", world.chu),
    )
    members = {org.code: (chu if org is world.chu else english(new_client(), email)) for email, org in people}
    for email, org in people:
        member = members[org.code]
        if membership(db, group_id, org).status == "invited":
            own = [gn.need_id for gn in fresh(db, PurchaseGroup, group_id).group_needs if gn.organization_id == org.id]
            if org is world.dm:  # the coordinating organization proposes its own need first
                assert post(member, f"{group_url}/propose", {"propose-need_id": str(n.dm.id)}).status_code == 302
                own = [n.dm.id]
            data = {"confirm-need_ids": [str(i) for i in own]}
            for need_id in own:
                data[f"confirm-amount_{need_id}"] = str(fresh(db, Need, need_id).annual_amount)
            assert post(member, f"{group_url}/confirm", data).status_code == 302, email
    for email, org in people:
        member = members[org.code]
        response = post(
            member,
            f"{group_url}/sign",
            {"sign-signed_on": SIGNED_ON.isoformat(), "sign-deliberation_reference": f"Délibération {org.code}-41"},
        )
        assert response.status_code == 200 and 'name="confirmed" value="yes"' in page(response)  # asked first
        assert membership(db, group_id, org).status != "signed"
        response = post(
            member, f"{group_url}/sign", dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page(response)))
        )
        assert response.status_code == 302, email
        assert membership(db, group_id, org).status == "signed"
    text = page(chu.get(group_url))
    assert "Your organization signed the convention on" in text and "Délibération CHU-41" in text

    response = post(coordinator, f"{group_url}/constitute", CONFIRMED)
    assert response.status_code == 302
    group = fresh(db, PurchaseGroup, group_id)
    assert group.status == "constituted"
    assert {fresh(db, Need, i).status for i in (n.chu.id, n.ub.id, n.gdh.id, n.dm.id)} == {"grouped"}
    text = page(coordinator.get(group_url))
    assert "The group is constituted: its members' needs are frozen." in text
    assert "Constitute the group" not in text
    actions = [e.action for e in services.events(db.session, world.coord, group)]
    assert actions[0] == "constituted" and "declined" in actions and actions[-1] == "formed"


def test_confirm_shows_amount_errors_on_the_field_and_changes_nothing(client, db, world):
    group = formed(db, world)
    need_id = world.needs.chu.id
    english(client, "anne@chu.example.fr")
    response = post(
        client, f"/groups/{group.id}/confirm", {"confirm-need_ids": str(need_id), f"confirm-amount_{need_id}": "0"}
    )
    assert response.status_code == 400
    text = page(response)
    assert "Amounts must stay positive." in text
    assert re.search(rf'class="form-control form-control-sm is-invalid" id="confirm-amount_{need_id}"', text)
    response = post(
        client, f"/groups/{group.id}/confirm", {"confirm-need_ids": str(need_id), f"confirm-amount_{need_id}": "abc"}
    )
    assert "Not a number: write it like 1234,50 or 1 234,50." in page(response) and 'value="abc"' in page(response)
    response = post(client, f"/groups/{group.id}/confirm", {})
    assert "Bring at least one need, or decline the invitation." in page(response)
    assert membership(db, group.id, world.chu).status == "invited"


def test_sign_requires_a_date_and_a_reference(client, db, world):
    group = formed(db, world)
    services.confirm_membership(db.session, world.chu_buyer, group)
    db.session.commit()
    english(client, "anne@chu.example.fr")
    response = post(
        client, f"/groups/{group.id}/sign", {"sign-signed_on": "", "sign-deliberation_reference": "", **CONFIRMED}
    )
    assert response.status_code == 400
    text = page(response)
    assert "The date of the deliberation or decision is required." in text
    assert "The reference of the deliberation or decision is required." in text
    assert membership(db, group.id, world.chu).status == "confirmed"


def test_member_proposes_another_of_its_submitted_needs(client, db, world):
    group = formed(db, world)
    extra = factories.need(world.ub, title="Électricité des résidences étudiantes", annual="5000.00")
    db.session.commit()
    english(client, "paul@ub.example.fr")
    text = page(client.get(f"/groups/{group.id}"))
    assert "Bring another need" in text and "Électricité des résidences étudiantes" in text
    assert post(client, f"/groups/{group.id}/propose", {"propose-need_id": str(extra.id)}).status_code == 302
    assert extra.id in {gn.need_id for gn in fresh(db, PurchaseGroup, group.id).group_needs}
    coordinators = db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "group_need_proposed"))
    assert world.coord.id in set(coordinators)


def test_coordinating_organization_is_not_offered_to_decline(client, db, world):
    group = formed(db, world)
    english(client, "achat@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}"))
    assert "Confirm our participation" in text and "Decline the invitation" not in text


def test_request_signatures_and_abandon(client, db, world):
    group = formed(db, world)
    services.confirm_membership(db.session, world.chu_buyer, group)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    post(client, f"/groups/{group.id}/request-signatures")
    assert "1 organization is asked to sign the convention." in page(client.get(f"/groups/{group.id}"))
    assert post(client, f"/groups/{group.id}/abandon", {"abandon-reason": ""}).status_code == 400
    assert fresh(db, PurchaseGroup, group.id).status == "forming"
    assert post(client, f"/groups/{group.id}/abandon", {"abandon-reason": "Marché reporté"}).status_code == 302
    assert fresh(db, PurchaseGroup, group.id).status == "abandoned"
    text = page(client.get(f"/groups/{group.id}"))
    assert "This group is abandoned" in text and "Marché reporté" in text and "Constitute the group" not in text


# --- the group page -------------------------------------------------------------------------------------------------


def test_group_page_shows_amounts_procedures_shares_needs_and_timeline(client, db, world):
    group = formed(db, world, planned_publication_on=date(2026, 12, 1))
    services.confirm_membership(
        db.session,
        world.chu_buyer,
        group,
        [world.needs.chu.id],
        {world.needs.chu.id: {"annual_amount": Decimal("90000"), "quantity": Decimal("12")}},
    )
    services.decline_membership(db.session, world.gdh_buyer, group, "Contrat en cours")
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}"))
    # CHU 90 000 × 3 + UB 80 000 × 1 + DM 20 000 × 3 = 410 000; GDH declined and is left out
    assert 'id="combined-annual">€190,000.00<' in text and 'id="combined-total">€410,000.00<' in text
    assert "Formal procedure (European threshold)" in text
    chu_row = text.split('data-member="CHU"')[1].split("</tr>")[0]
    assert "Confirmed" in chu_row and "€270,000.00" in chu_row and "65.9%" in chu_row
    ub_row = text.split('data-member="UB"')[1].split("</tr>")[0]
    assert "Invited" in ub_row and "19.5%" in ub_row and "Adapted procedure (MAPA)" in ub_row
    gdh_row = text.split('data-member="GDH"')[1].split("</tr>")[0]
    assert "Declined" in gdh_row and "Contrat en cours" in gdh_row and "0.0%" in gdh_row
    chu_needs = text.split('class="table table-sm align-middle group-needs" data-member="CHU"')[1].split("</table>")[0]
    assert f'href="/needs/{world.needs.chu.id}"' in chu_needs and "Électricité des hôpitaux" in chu_needs
    assert "€90,000.00" in chu_needs and "12 " in chu_needs and "Jun 1, 2027" in chu_needs and "Brought" in chu_needs
    gdh_needs = text.split('data-member="GDH"')[2].split("</table>")[0]
    assert "Left out" in gdh_needs
    timeline = text.split('id="timeline"')[1].split("</section>")[0]
    assert "Members sign the convention (deliberations)" in timeline and "Notifying the contract" in timeline
    assert "Mar 1, 2027" in timeline  # UB's start, the earliest
    assert "indicative defaults" in timeline and "late" in timeline


def test_each_user_sees_only_the_actions_open_to_them(client, db, world, new_client):
    group = formed(db, world)
    coordinator = english(client, "coord@dm.example.fr")
    text = page(coordinator.get(f"/groups/{group.id}"))
    for action in ("request-signatures", "constitute", "invite", "abandon", "lots"):
        assert f'action="/groups/{group.id}/{action}"' in text, action
    assert f'action="/groups/{group.id}/confirm"' not in text and f'action="/groups/{group.id}/sign"' not in text
    member = english(new_client(), "anne@chu.example.fr")
    text = page(member.get(f"/groups/{group.id}"))
    assert f'action="/groups/{group.id}/confirm"' in text and f'action="/groups/{group.id}/decline"' in text
    assert f'action="/groups/{group.id}/sign"' not in text  # confirm first
    for action in ("request-signatures", "constitute", "invite", "abandon", "lots"):
        assert f'action="/groups/{group.id}/{action}"' not in text, action
    assert f"/groups/{group.id}/edit" not in text


# --- editing with a stale version -----------------------------------------------------------------------------------


def test_edit_saves_the_group_details(client, db, world):
    group = formed(db, world)
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}/edit"))
    version = re.search(r'id="version" name="version" type="hidden" value="(\d+)"', text).group(1)
    response = post(
        client,
        f"/groups/{group.id}/edit",
        {
            "version": version,
            "name": "Électricité verte",
            "scope_cpv_prefix": "0931",
            "planned_publication_on": "2027-02-01",
            "convention_duration_months": "36",
            "cost_sharing": "equal",
            "single_lot_reason": "",
        },
    )
    assert response.status_code == 302
    group = fresh(db, PurchaseGroup, group.id)
    assert group.name == "Électricité verte" and group.convention_duration_months == 36
    assert group.cost_sharing == "equal" and group.planned_publication_on == date(2027, 2, 1)
    text = page(client.get(f"/groups/{group.id}"))
    log = text.split('id="activity"')[1]
    entry = log.split("Group details changed")[1].split("</ul>")[0]
    assert re.search(
        r'Name:</span>\s*<span class="activity-before">Électricité 2027</span>.*?'
        r'<span class="activity-after">Électricité verte</span>',
        entry,
        re.S,
    )
    assert re.search(r'<span class="activity-before">In proportion to each member\'s share</span>', entry)


def _edit_data(version, **changes):
    data = {
        "version": str(version),
        "name": "Mon nom",
        "scope_cpv_prefix": "0931",
        "planned_publication_on": "2027-02-01",
        "convention_duration_months": "48",
        "cost_sharing": "pro_rata",
        "single_lot_reason": "",
    }
    data.update(changes)
    return data


def test_stale_edit_shows_what_changed_keeps_the_input_and_overwrites_nothing(client, db, world):
    group = formed(db, world)
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}/edit"))
    opened = int(re.search(r'name="version" type="hidden" value="(\d+)"', text).group(1))
    # Meanwhile another coordinator renames the group and a member confirms.
    group = fresh(db, PurchaseGroup, group.id)
    services.update_group(
        db.session, world.coord, group, {"name": "Nom du collègue", "cost_sharing": "equal"}, expected_version=opened
    )
    services.confirm_membership(db.session, world.chu_buyer, group)
    db.session.commit()
    response = post(client, f"/groups/{group.id}/edit", _edit_data(opened))
    assert response.status_code == 409
    text = page(response)
    assert "This group was changed by someone else since you opened it." in text
    assert 'value="Mon nom"' in text  # the input is kept
    name_row = text.split('data-field="name"')[1].split("</tr>")[0]
    assert "Mon nom" in name_row and "Nom du collègue" in name_row and "differs" in name_row
    sharing_row = text.split('data-field="cost_sharing"')[1].split("</tr>")[0]
    assert "In proportion to each member's share" in sharing_row and "In equal parts" in sharing_row
    duration_row = text.split('data-field="convention_duration_months"')[1].split("</tr>")[0]
    assert "differs" not in duration_row
    recent = text.split('class="card card-body py-2 recent-activity"')[1]
    assert "Participation confirmed" in recent and "Group details changed" in recent
    saved = fresh(db, PurchaseGroup, group.id)
    assert saved.name == "Nom du collègue" and saved.cost_sharing == "equal"
    # Having seen the current values, the coordinator saves deliberately.
    current = int(re.search(r'name="version" type="hidden" value="(\d+)"', text).group(1))
    assert current == saved.version
    assert post(client, f"/groups/{group.id}/edit", _edit_data(current)).status_code == 302
    assert fresh(db, PurchaseGroup, group.id).name == "Mon nom"


def test_edit_refuses_an_unreadable_version_as_stale(client, db, world):
    group = formed(db, world)
    english(client, "coord@dm.example.fr")
    response = post(client, f"/groups/{group.id}/edit", _edit_data("x"))
    assert "This group was changed by someone else" in page(response)
    assert fresh(db, PurchaseGroup, group.id).name == "Électricité 2027"


# --- lots -----------------------------------------------------------------------------------------------------------


def test_coordinator_creates_a_lot_with_shares_in_french_notation(client, db, world):
    group = formed(db, world)
    english(client, "coord@dm.example.fr")
    response = post(
        client,
        f"/groups/{group.id}/lots",
        {
            "lot-title": "Électricité — sites de Dijon",
            "lot-cpv_code": "09310000",
            "lot-delivery_area": "21",
            f"lot-share_amount_{world.chu.id}": "100 000,00",
            f"lot-share_quantity_{world.chu.id}": "12,5",
            f"lot-share_amount_{world.ub.id}": "80000",
        },
    )
    assert response.status_code == 302
    lot = db.session.scalar(sa.select(Lot))
    assert lot.number == 1 and lot.cpv_code == "09310000" and lot.delivery_area == "21"
    assert {s.organization_id: (s.annual_amount, s.quantity) for s in lot.shares} == {
        world.chu.id: (Decimal("100000.00"), Decimal("12.50")),
        world.ub.id: (Decimal("80000.00"), None),
    }
    text = page(client.get(f"/groups/{group.id}"))
    lots = text.split('class="table align-middle lots-table"')[1].split("</table>")[0]
    assert "Électricité — sites de Dijon" in lots and "version 1" in lots
    # per year 100 000 + 80 000; total CHU 100 000 × 36/12 + UB 80 000 × 12/12
    assert "€180,000.00" in lots and "€380,000.00" in lots and "Total excl. VAT" in lots
    assert "A single lot: record why" in text


def lot_rows(text: str) -> dict[str, str]:
    """The rows of the lots table by lot number."""
    table = text.split('class="table align-middle lots-table"')[1].split("</table>")[0]
    return dict(re.findall(r'<tr data-lot="(\d+)">(.*?)</tr>', table, re.S))


def test_a_small_lot_of_a_formal_purchase_is_marked_as_open_to_an_adapted_procedure(client, db, world):
    group = formed(db, world)  # 490,000 € in total over the contracts: a formal procedure
    for title, code, annual in (("Hôpitaux", "CHU", "100000"), ("Résidences", "GDH", "25000")):
        values = services.LotValues(title=title, cpv_code="09310000", shares={code: {"annual_amount": Decimal(annual)}})
        services.create_lot(db.session, world.coord, group, values)
    db.session.commit()
    # lot 1: 300,000 € in total; lot 2: 50,000 € (GDH's 24 months), below 80,000 € and within 20 % of 350,000 €
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}"))
    rows = lot_rows(text)
    assert "Small lot: adapted procedure possible" in rows["2"]
    assert "Small lot" not in rows["1"] and "R2123-1 2°" in text
    client.get("/lang/fr")
    rows = lot_rows(page(client.get(f"/groups/{group.id}")))
    assert "Petit lot : procédure adaptée possible" in rows["2"] and "Petit lot" not in rows["1"]


def test_no_small_lot_is_marked_when_the_whole_purchase_is_not_formal(client, db, world):
    group = formed(db, world, needs=("gdh", "dm"))  # 110,000 € in total: an adapted procedure for every lot
    values = services.LotValues(title="Résidences", cpv_code="09310000", shares={"GDH": {"annual_amount": Decimal(1)}})
    services.create_lot(db.session, world.coord, group, values)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}"))
    assert "Small lot" not in text and "R2123-1 2°" not in text


def test_lot_form_errors_are_shown_and_nothing_is_created(client, db, world):
    group = formed(db, world)
    english(client, "coord@dm.example.fr")
    response = post(
        client,
        f"/groups/{group.id}/lots",
        {"lot-title": "", "lot-cpv_code": "123", f"lot-share_amount_{world.chu.id}": "-1"},
    )
    assert response.status_code == 400
    text = page(response)
    assert "The title is required." in text and "A CPV code has 8 digits" in text
    assert "Amounts cannot be negative." in text
    assert re.search(rf'is-invalid" id="lot-share_amount_{world.chu.id}"', text)
    assert 'id="new-lot"' in text and 'class="collapse show mt-2" id="new-lot"' in text
    assert db.session.scalar(sa.select(sa.func.count(Lot.id))) == 0


def test_suggested_lots_are_created_in_one_click(client, db, world):
    gas = factories.need(world.ub, title="Gaz", cpv="09123000", annual="40000.00", postcode="71200")
    db.session.commit()
    group = services.form_group(
        db.session, world.coord, name="Énergie", need_ids=[world.needs.chu.id, world.needs.ub.id, gas.id]
    )
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}"))
    assert "Suggested split" in text and "Create these 2 lots" in text
    assert post(client, f"/groups/{group.id}/lots/suggested").status_code == 302
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)).all()
    assert [(lot.cpv_code, lot.delivery_area) for lot in lots] == [("09120000", "71"), ("09310000", "21")]
    shares = {s.organization_id: s.annual_amount for s in lots[1].shares}
    assert shares == {world.chu.id: Decimal("100000.00"), world.ub.id: Decimal("80000.00")}
    text = page(client.get(f"/groups/{group.id}"))
    assert "2 lots are created." in text and "Suggested split" not in text
    assert post(client, f"/groups/{group.id}/lots/suggested").status_code == 302  # a second click adds nothing
    assert db.session.scalar(sa.select(sa.func.count(Lot.id))) == 2


def _lot(db, w, group) -> Lot:
    lot = services.create_lot(
        db.session,
        w.coord,
        group,
        services.LotValues(
            title="Électricité",
            cpv_code="09310000",
            shares={"CHU": {"annual_amount": Decimal("100000"), "quantity": None}},
        ),
    )
    db.session.commit()
    return lot


def test_edit_lot_saves_and_a_stale_edit_shows_what_changed(client, db, world):
    group = formed(db, world)
    lot = _lot(db, world, group)
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}/lots/{lot.id}/edit"))
    assert 'value="Électricité"' in text and 'value="100000' in text
    opened = lot.version
    data = {
        "lot-version": str(opened),
        "lot-title": "Électricité verte",
        "lot-cpv_code": "09310000",
        f"lot-share_amount_{world.chu.id}": "95 000",
        f"lot-share_amount_{world.ub.id}": "80 000",
    }
    assert post(client, f"/groups/{group.id}/lots/{lot.id}/edit", data).status_code == 302
    saved = fresh(db, Lot, lot.id)
    # CHU 95 000 × 36/12 + UB 80 000 × 12/12 = 365 000 in total, 175 000 per year
    assert saved.title == "Électricité verte" and saved.estimated_amount == Decimal("365000.00")
    assert saved.annual_amount == Decimal("175000.00")
    # A second edit from the page opened before the first one was saved
    response = post(client, f"/groups/{group.id}/lots/{lot.id}/edit", {**data, "lot-title": "Mon titre"})
    assert response.status_code == 409
    text = page(response)
    assert "This lot was changed by someone else since you opened it." in text
    assert 'value="Mon titre"' in text
    title_row = text.split('data-field="title"')[1].split("</tr>")[0]
    assert "Mon titre" in title_row and "Électricité verte" in title_row and "differs" in title_row
    share_row = text.split(f'data-field="share_{world.chu.id}"')[1].split("</tr>")[0]
    assert "€95,000.00" in share_row and "differs" not in share_row
    assert "Lot changed" in text.split("recent-activity")[1]
    assert fresh(db, Lot, lot.id).title == "Électricité verte"


def test_delete_lot(client, db, world):
    group = formed(db, world)
    lot = _lot(db, world, group)
    english(client, "coord@dm.example.fr")
    asked = post(client, f"/groups/{group.id}/lots/{lot.id}/delete")  # the button alone: the confirmation page
    assert asked.status_code == 200 and "Yes, delete the lot" in page(asked)
    assert f'href="/groups/{group.id}#lots"' in page(asked)  # or back to the group, nothing deleted
    assert db.session.scalar(sa.select(sa.func.count(Lot.id))) == 1
    assert post(client, f"/groups/{group.id}/lots/{lot.id}/delete", CONFIRMED).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Lot.id))) == 0
    text = page(client.get(f"/groups/{group.id}"))
    assert "Lot 1 is deleted." in text and "Lot deleted" in text
    assert post(client, f"/groups/{group.id}/lots/{lot.id}/delete", CONFIRMED).status_code == 404


def test_lots_are_managed_by_coordinators_only(client, db, world):
    group = formed(db, world)
    lot = _lot(db, world, group)
    english(client, "anne@chu.example.fr")
    assert client.get(f"/groups/{group.id}/lots/{lot.id}/edit").status_code == 403
    assert post(client, f"/groups/{group.id}/lots/{lot.id}/delete", CONFIRMED).status_code == 403
    assert post(client, f"/groups/{group.id}/lots", {"lot-title": "x"}).status_code == 403
    assert fresh(db, Lot, lot.id) is not None


# --- the convention -------------------------------------------------------------------------------------------------


@pytest.fixture
def signed_group(db, world):
    group = formed(db, world, needs=("chu", "ub", "gdh"), planned_publication_on=date(2027, 1, 15))
    services.update_group(
        db.session,
        world.coord,
        group,
        {"convention_duration_months": 36, "cost_sharing": "pro_rata"},
        expected_version=group.version,
    )
    services.confirm_membership(db.session, world.chu_buyer, group)
    services.decline_membership(db.session, world.gdh_buyer, group, "Contrat en cours")
    _lot(db, world, group)
    # the terms are settled (members, needs, lots) before CHU signs: a later change would void its signature
    services.sign_convention(
        db.session,
        world.chu_buyer,
        group,
        signed_on=date(2026, 10, 1),
        deliberation_reference="Délibération CA 2026-41",
    )
    db.session.commit()
    return group


def test_convention_in_french_names_parties_shares_coordinator_duration_and_signatures(client, db, world, signed_group):
    english(client, "anne@chu.example.fr")  # the interface is English: the document stays French by default
    text = page(client.get(f"/groups/{signed_group.id}/convention"))
    doc = re.sub(r"\s+", " ", text.split('class="convention-doc" lang="fr"')[1].split("</article>")[0])
    assert "Convention constitutive du groupement de commandes" in doc
    assert "articles L2113-6 à L2113-8 du code de la commande publique" in doc
    for name in ("Dijon Métropole", "CHU Dijon Bourgogne", "Université de Bourgogne"):
        assert name in doc.split('id="parties"')[1].split("</section>")[0]
    assert "Grand Dijon Habitat" not in doc  # declined: not a party
    assert "SIRET 262 100 063 00018" in doc and "SIRET 242 100 314 00010" in doc  # grouped (no-break spaces)
    assert "09310000-5" in doc and "Électricité des hôpitaux" in doc
    # CHU 300 000 of 380 000 = 78,9 %; UB 80 000 = 21,1 %
    chu_share = doc.split('data-share="CHU"')[1].split("</tr>")[0].replace("\u202f", " ").replace("\xa0", " ")
    assert "78,9 %" in chu_share and "300 000,00 €" in chu_share
    coordinator = doc.split('id="coordonnateur"')[1].split("</section>")[0]
    assert "Dijon Métropole</strong> (SIRET 242 100 314 00010) est désigné(e) coordonnateur" in coordinator
    assert "de signer et de notifier les marchés au nom et pour le compte de l'ensemble des membres" in coordinator
    assert "le représentant légal de Dijon Métropole" in coordinator
    assert "au prorata de leur part" in doc and "36 mois" in doc and "(3 ans)" in doc
    assert "Adhésion." in doc and "Retrait." in doc
    lots = doc.split('id="lots"')[1].split("</section>")[0]
    plain_lots = lots.replace("\u202f", " ").replace("\xa0", " ")
    # CHU's share: 100 000 a year, × 36 months / 12 = 300 000 in total
    assert "Électricité" in lots and "CHU : 100 000,00 € par an, 300 000,00 € au total" in plain_lots
    assert "Par an HT" in lots and "Total HT" in lots
    assert "reconductions et options comprises (article R2121-1" in doc
    assert "Le marché n'est pas alloti pour le motif suivant" in lots
    chu_signature = doc.split('data-signature="CHU"')[1].split("</div>")[0]
    assert "Délibération CA 2026-41" in chu_signature and "1er octobre 2026" in chu_signature
    ub_signature = doc.split('data-signature="UB"')[1].split("</div>")[0]
    assert "blank-line" in ub_signature and "Délibération" not in ub_signature.replace("délibération", "")
    assert "Print" in text and "@media print" not in doc  # print styles live in the stylesheet


def test_convention_in_english(client, db, world, signed_group):
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{signed_group.id}/convention?lang=en"))
    doc = re.sub(r"\s+", " ", text.split('class="convention-doc" lang="en"')[1].split("</article>")[0])
    assert "Agreement constituting the pooled-purchase group" in doc
    assert "Articles L2113-6 to L2113-8 of the French public procurement code" in doc
    assert "CHU Dijon Bourgogne" in doc and "Université de Bourgogne" in doc and "Grand Dijon Habitat" not in doc
    assert "78.9%" in doc.split('data-share="CHU"')[1].split("</tr>")[0]
    assert "signing and notifying the contracts in the name and on behalf of all the members" in doc
    assert "the legal representative of Dijon Métropole" in doc
    assert "36 months" in doc and "(3 years)" in doc and "in proportion to their share" in doc
    assert "Joining." in doc and "Leaving." in doc
    chu_signature = doc.split('data-signature="CHU"')[1].split("</div>")[0]
    assert "Délibération CA 2026-41" in chu_signature and "October 1, 2026" in chu_signature
    assert "Authorised by deliberation or decision no." in doc.split('data-signature="UB"')[1].split("</div>")[0]


@pytest.mark.parametrize(
    ("sharing", "french", "english_text"),
    [
        ("equal", "à parts égales entre les 3 membres", "shared equally between the 3 members"),
        ("coordinator", "supportés en totalité par le coordonnateur", "borne in full by the coordinator"),
    ],
)
def test_convention_states_how_costs_are_shared(client, db, world, signed_group, sharing, french, english_text):
    group = fresh(db, PurchaseGroup, signed_group.id)
    services.update_group(db.session, world.coord, group, {"cost_sharing": sharing}, expected_version=group.version)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    assert french in re.sub(r"\s+", " ", page(client.get(f"/groups/{group.id}/convention?lang=fr")))
    assert english_text in re.sub(r"\s+", " ", page(client.get(f"/groups/{group.id}/convention?lang=en")))


# --- the activity log -----------------------------------------------------------------------------------------------


def test_activity_log_is_shown_readably_and_offers_no_way_to_change_it(app, client, db, world):
    group = formed(db, world)
    services.decline_membership(db.session, world.gdh_buyer, group, "Contrat en cours")
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{group.id}"))
    log = text.split('id="activity"')[1].split("</section>")[0]
    entries = re.findall(r'data-event-id="(\d+)"', log)
    assert len(entries) == 2
    assert log.index("Invitation declined") < log.index("Group formed")  # newest first
    assert "lea@gdh.example.fr" in log and "coord@dm.example.fr" in log
    assert re.search(r"Invited</span>\s*<span aria-hidden=\"true\">→</span>.*?Declined", log, re.S)
    assert "Contrat en cours" in log and "<form" not in log and "<input" not in log
    # No route edits or deletes an activity-log entry.
    group_rules = [rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/groups")]
    assert len(group_rules) >= 15
    for rule in group_rules:
        assert "event" not in rule and "activity" not in rule and "log" not in rule, rule
    assert post(client, f"/groups/{group.id}/events/{entries[0]}/delete").status_code == 404


# --- query counts ---------------------------------------------------------------------------------------------------


def _group_with(db, w, count: int) -> PurchaseGroup:
    codes = db.session.scalars(
        sa.select(CpvCode.code).where(CpvCode.level == "class", CpvCode.code.like("0%")).order_by(CpvCode.code)
    ).all()
    orgs = [w.chu, w.ub, w.gdh, w.dm]
    needs = [
        factories.need(orgs[i % 4], title=f"Need {i}", cpv=codes[i % len(codes)], annual=str(1000 + i))
        for i in range(count)
    ]
    group = services.form_group(db.session, w.coord, name=f"Group of {count}", need_ids=[n.id for n in needs])
    services.confirm_membership(db.session, w.chu_buyer, group)
    lot = services.create_lot(
        db.session,
        w.coord,
        group,
        services.LotValues(title="Lot", cpv_code="09310000", shares={"CHU": {"annual_amount": Decimal("1")}}),
    )
    assert lot
    db.session.commit()
    return group


@pytest.mark.parametrize("email", ["coord@dm.example.fr", "anne@chu.example.fr"])
def test_group_page_query_count_does_not_grow_with_the_number_of_needs(client, db, world, query_counter, email):
    few, many = _group_with(db, world, 3), _group_with(db, world, 15)
    english(client, email)
    client.get(f"/groups/{few.id}")  # warm-up

    def queries(group_id: int) -> int:
        with query_counter() as count:
            response = client.get(f"/groups/{group_id}")
        assert response.status_code == 200
        return count.value

    assert queries(few.id) == queries(many.id)
    # 17: the members' past spend (the impact's local share) is remembered until the spend changes, which reads the
    # data versions once per request; counted cold (nothing remembered), so the spend is read too.
    assert queries(few.id) <= 17, queries(few.id)


def test_list_query_count_does_not_grow_with_the_number_of_groups(client, db, world, query_counter):
    _group_with(db, world, 3)
    english(client, "coord@dm.example.fr")
    client.get("/groups")
    with query_counter() as one:
        client.get("/groups")
    for size in (4, 6, 8):
        _group_with(db, world, size)
    with query_counter() as four:
        client.get("/groups")
    assert one.value == four.value


# --- notifications --------------------------------------------------------------------------------------------------


def bell_count(text: str) -> int | None:
    match = re.search(r'id="notification-count">(\d+)<', text)
    return int(match.group(1)) if match else None


def test_bell_shows_the_unread_count_and_the_page_lists_the_notifications(client, db, world):
    group = formed(db, world)
    english(client, "anne@chu.example.fr")
    text = page(client.get("/"))
    assert bell_count(text) == 1 and 'href="/notifications"' in text
    text = page(client.get("/notifications"))
    assert "CHU Dijon Bourgogne is invited to join the pooled-purchase group “Électricité 2027”." in text
    assert "list-group-item-primary unread" in text and "1 unread notification." in text
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == world.chu_buyer.id))
    response = post(client, f"/notifications/{note.id}/read")
    assert response.status_code == 302 and response.headers["Location"] == f"/groups/{group.id}"
    assert fresh(db, Notification, note.id).read_at is not None
    text = page(client.get("/notifications"))
    assert bell_count(text) is None and "Everything is read." in text and "unread" not in text.split("<main")[1]


def test_mark_all_read(client, db, world):
    group = formed(db, world)
    services.request_signatures(db.session, world.coord, group)
    services.confirm_membership(db.session, world.chu_buyer, group)
    db.session.commit()
    english(client, "anne@chu.example.fr")
    assert bell_count(page(client.get("/"))) == 2  # the invitation, and the signature to give after confirming
    response = post(client, "/notifications/read-all")
    assert response.status_code == 302
    text = page(client.get(response.headers["Location"]))
    assert "2 notifications marked as read." in text and bell_count(text) is None


def test_another_users_notification_is_not_found(client, db, world):
    formed(db, world)
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == world.ub_buyer.id))
    english(client, "anne@chu.example.fr")
    assert post(client, f"/notifications/{note.id}/read").status_code == 404
    assert post(client, "/notifications/999999/read").status_code == 404
    assert fresh(db, Notification, note.id).read_at is None
    assert "Université de Bourgogne is invited" not in page(client.get("/notifications"))


def test_bell_costs_one_count_query_and_none_for_anonymous_visitors(client, db, world, query_counter):
    with query_counter() as anonymous:
        text = page(client.get("/"))
    assert anonymous.value == 0 and 'id="notification-bell"' not in text
    english(client, "sales@supplier.example.fr")
    client.get("/")
    with query_counter() as count:
        client.get("/notifications")
    statements = count.value
    assert statements <= 4, statements  # the user, the list and the badge's COUNT


# --- home pages -----------------------------------------------------------------------------------------------------


def test_buyer_home_lists_the_groups_awaiting_its_answer_or_signature(client, db, world):
    first = formed(db, world, name="Électricité 2027")
    second = formed(db, world, name="Électricité 2028", needs=("chu", "ub"))
    services.confirm_membership(db.session, world.chu_buyer, second)
    db.session.commit()
    english(client, "anne@chu.example.fr")
    panel = page(client.get("/")).split('class="card mt-3 home-groups"')[1].split("</section>")[0]
    first_row = panel.split(f'data-group-id="{first.id}"')[1].split("</li>")[0]
    second_row = panel.split(f'data-group-id="{second.id}"')[1].split("</li>")[0]
    assert f'href="/groups/{first.id}"' in first_row and "Answer the invitation" in first_row
    assert "Sign the convention" in second_row
    other = english(client.application.test_client(), "olga@out.example.fr")
    assert "No pooled-purchase group is waiting for your organization." in page(other.get("/"))


def test_coordinator_home_lists_the_forming_groups_and_their_pending_members(client, db, world):
    group = formed(db, world, needs=("chu", "ub"))
    services.confirm_membership(db.session, world.chu_buyer, group)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    panel = page(client.get("/")).split('class="card mt-3 home-groups"')[1].split("</section>")[0]
    assert "Groups forming" in panel and f'href="/groups/{group.id}"' in panel
    assert "CHU · signature" in panel and "UB · answer" in panel and "DM · answer" in panel


def test_the_log_says_which_change_voided_the_signatures(client, db, world, signed_group):
    services.update_group(
        db.session, world.coord, signed_group, {"convention_duration_months": 48}, expected_version=signed_group.version
    )
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{signed_group.id}"))
    assert "Signatures voided: the terms of the convention changed" in text
    assert "Terms changed" in text and "duration" in text and "To sign again" in text
    assert membership(db, signed_group.id, world.chu).status == "confirmed"


def test_the_convention_states_liability_representation_withdrawal_amendments_and_essential_data(
    client, db, world, signed_group
):
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{signed_group.id}/convention"))
    doc = re.sub(r"\s+", " ", text.split('class="convention-doc" lang="fr"')[1].split("</article>")[0])
    clauses = doc.split('id="responsabilite"')[1].split("</section>")[0]
    for heading in ("Responsabilité.", "Représentation en justice.", "Avenants.", "Données essentielles."):
        assert heading in clauses
    assert "Le coordonnateur représente l'ensemble des membres" in clauses
    assert "Le coordonnateur publie les données essentielles" in clauses
    assert "Conséquences financières du retrait." in doc
    assert "chaque membre reste responsable de l'exécution des marchés" in doc  # the default execution mode


def test_the_execution_mode_chosen_is_in_the_convention_and_changing_it_voids_the_signatures(
    client, db, world, signed_group
):
    services.update_group(
        db.session, world.coord, signed_group, {"execution_mode": "each_member"}, expected_version=signed_group.version
    )
    db.session.commit()
    assert membership(db, signed_group.id, world.chu).status == "confirmed"
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/groups/{signed_group.id}/convention"))
    doc = re.sub(r"\s+", " ", text.split('class="convention-doc" lang="fr"')[1].split("</article>")[0])
    assert "chaque membre signe, notifie et exécute son propre marché" in doc
    assert "Chaque membre publie les données essentielles du marché qu'il a signé" in doc
    assert "de signer et de notifier les marchés au nom et pour le compte" not in doc
    log = page(client.get(f"/groups/{signed_group.id}"))
    assert "who signs and runs the contracts" in log


def test_a_buyer_sees_links_only_to_its_own_needs_on_the_group_page_and_each_link_opens(client, world, db):
    """Other members' needs are listed without a link: their page answers 404 to this buyer."""
    group = formed(db, world)

    login(client, "anne@chu.example.fr")
    body = page(client.get(f"/groups/{group.id}"))
    links = set(re.findall(r'href="/needs/(\d+)"', body))
    assert links == {str(world.needs.chu.id)}
    for other in ("ub", "gdh", "dm"):
        assert getattr(world.needs, other).title in body
    assert all(client.get(f"/needs/{need_id}").status_code == 200 for need_id in links)

    client.post("/logout", data={"csrf_token": csrf_from(body)})
    login(client, "coord@dm.example.fr")
    coordinator_links = set(re.findall(r'href="/needs/(\d+)"', page(client.get(f"/groups/{group.id}"))))
    assert coordinator_links == {str(getattr(world.needs, k).id) for k in ("chu", "ub", "gdh", "dm")}
