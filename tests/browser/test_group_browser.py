"""A pooled-purchase group in the browser: formed from ticked needs, answered by a member, constituted."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.groups import services
from app.groups.models import GroupNeed, Membership, PurchaseGroup
from tests import factories
from tests.browser.conftest import browser_context, log_in, screenshot

pytestmark = pytest.mark.browser

SIGNED_ON = date.today() - timedelta(days=2)


def test_coordinator_forms_a_group_a_member_confirms_and_signs_and_the_group_is_constituted(
    page, browser, live_server, db
):
    dm = factories.organization("DM", name="Dijon Métropole", siret="24210031400010")
    chu = factories.organization("CHU", name="CHU Dijon Bourgogne", siret="26210006300018", kind="hospital")
    ub = factories.organization("UB", name="Université de Bourgogne", siret="19211237300019", kind="university")
    factories.user("coordinator", email="coord@dm.example.fr", organization_=dm)
    dm_buyer = factories.user("buyer", email="achat@dm.example.fr", organization_=dm)
    chu_buyer = factories.user("buyer", email="anne@chu.example.fr", organization_=chu)
    ub_buyer = factories.user("buyer", email="paul@ub.example.fr", organization_=ub)
    sept = date(2027, 9, 1)
    chu_need = factories.need(
        chu,
        title="Électricité des sites hospitaliers",
        annual="420000.00",
        start=sept,
        unit="MWh",
        quantity=Decimal(2800),
    )
    ub_need = factories.need(
        ub, title="Électricité des campus dijonnais", annual="180000.00", months=24, start=date(2027, 7, 1)
    )
    ub_creusot = factories.need(
        ub, title="Électricité du campus du Creusot", annual="35000.00", months=24, start=sept, postcode="71200"
    )
    dm_need = factories.need(dm, title="Électricité des bâtiments métropolitains", annual="95000.00", start=sept)
    factories.need(chu, title="Gaz naturel", annual="60000.00", cpv="09123000", start=sept)
    db.session.commit()

    # The coordinator forms the group: filters the needs on electricity and ticks them.
    log_in(page, "coord@dm.example.fr")
    expect(page.locator("#notification-bell")).to_be_visible()
    page.goto("/groups")
    page.get_by_role("link", name="Form a group").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Form a pooled-purchase group")
    page.locator("#name").fill("Électricité verte 2027–2030")
    page.locator("#cpv-filter").fill("0931")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table tbody tr")).to_have_count(4)  # the gas need is filtered out
    page.locator("#scope_cpv_prefix").fill("0931")
    for need in (chu_need, ub_need, ub_creusot):
        page.locator(f"#need-{need.id}").check()
    expect(page.locator("#ticked-count")).to_have_text("Needs ticked: 3")
    page.locator("#planned_publication_on").fill("2027-01-15")
    page.get_by_role("button", name="Form the group and invite the members").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Électricité verte 2027–2030")
    group_url = page.url
    group = db.session.scalar(sa.select(PurchaseGroup))
    assert sorted(m.organization.code for m in group.memberships) == ["CHU", "DM", "UB"]

    # The CHU buyer, in another browser, sees the bell, opens the notification and answers.
    context = browser_context(browser, live_server)
    buyer = context.new_page()
    buyer.set_default_timeout(10_000)
    try:
        log_in(buyer, "anne@chu.example.fr")
        expect(buyer.locator("#notification-bell")).to_be_visible()
        expect(buyer.locator("#notification-count")).to_have_text("1")
        buyer.locator("#notification-bell").click()
        expect(buyer.get_by_role("heading", level=1)).to_have_text("Notifications")
        expect(buyer.locator(".notification-text")).to_contain_text("CHU Dijon Bourgogne is invited to join")
        buyer.get_by_role("button", name="Open").click()
        expect(buyer).to_have_url(group_url)
        expect(buyer.locator("#notification-count")).to_have_count(0)
        buyer.locator(f"#confirm-amount_{chu_need.id}").fill("400 000,00")
        buyer.locator(f"#confirm-quantity_{chu_need.id}").fill("2 650")
        buyer.get_by_role("button", name="Confirm our participation").click()
        expect(buyer.locator(".alert-success")).to_contain_text("participation is confirmed")
        buyer.locator("#sign-signed_on").fill(SIGNED_ON.isoformat())
        buyer.locator("#sign-deliberation_reference").fill("Délibération du conseil de surveillance n° 2026-41")
        buyer.get_by_role("button", name="Sign the convention").click()
        buyer.get_by_role("button", name="Yes, sign the convention").click()
        expect(buyer.locator(".alert-success")).to_contain_text("signature of your organization is recorded")
        expect(buyer.locator('tr[data-member="CHU"] .member-status')).to_contain_text("Signed")
    finally:
        context.close()
    assert context.csp_violations == []
    db.session.expire_all()
    chu_row = db.session.scalar(sa.select(GroupNeed).where(GroupNeed.need_id == chu_need.id))
    assert chu_row.annual_amount == Decimal("400000.00") and chu_row.quantity == Decimal("2650")

    # The two other members answer (their own pages are covered by the web tests): DM brings a need of its own,
    # which changes the terms CHU signed.
    group = db.session.get(PurchaseGroup, group.id)
    services.confirm_membership(db.session, ub_buyer, group)
    services.confirm_membership(db.session, dm_buyer, group, [dm_need.id])
    db.session.commit()

    # The coordinator creates the suggested lots; the log says CHU's signature was voided by the change.
    page.reload()
    expect(page.locator("body")).to_contain_text("Signatures voided: the terms of the convention changed")
    page.get_by_role("button", name="Create these 2 lots").click()
    expect(page.locator(".lots-table tbody tr")).to_have_count(2)
    expect(page.locator('tr[data-member="CHU"] .member-status')).not_to_contain_text("Signed")

    # The members sign the settled terms, and the coordinator constitutes the group.
    group = db.session.get(PurchaseGroup, group.id)
    for member, reference in (
        (chu_buyer, "Délibération du conseil de surveillance n° 2026-41"),
        (ub_buyer, "Décision du président n° 2026-118"),
        (dm_buyer, "Délibération du conseil n° 26-0412"),
    ):
        services.sign_convention(db.session, member, group, signed_on=SIGNED_ON, deliberation_reference=reference)
    db.session.commit()
    page.reload()
    page.get_by_role("button", name="Constitute the group").click()
    page.get_by_role("button", name="Yes, constitute the group").click()
    expect(page.locator("#group-status")).to_have_text("Constituted")
    expect(page.locator(".alert-success").first).to_contain_text("The group is constituted")
    db.session.expire_all()
    assert db.session.get(PurchaseGroup, group.id).status == "constituted"
    assert {m.status for m in db.session.scalars(sa.select(Membership))} == {"signed"}
    screenshot(page, "group")

    # The convention, in French, ready to print.
    page.locator("#convention-fr").click()
    document = page.locator("article.convention-doc")
    expect(document).to_contain_text("Convention constitutive du groupement de commandes")
    expect(document).to_contain_text("articles L2113-6 à L2113-8 du code de la commande publique")
    expect(document.locator('[data-signature="CHU"]')).to_contain_text("2026-41")
    page.emulate_media(media="print")
    expect(page.locator("nav.navbar")).to_be_hidden()
    page.emulate_media(media="screen")
    screenshot(page, "convention")
    assert re.search(r"/groups/\d+/convention", page.url)
