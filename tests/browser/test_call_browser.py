import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from playwright.sync_api import expect

from app.calls.models import Bid, Call
from app.calls.services import sealing
from tests import factories
from tests.browser.conftest import browser_context, log_in, screenshot

pytestmark = pytest.mark.browser


def test_coordinator_publishes_a_call_and_a_supplier_bids_and_gets_its_receipt(page, db, browser, live_server):
    group, orgs, coordinator = factories.constituted_group()
    coordinator.email = "coordination@dm.example.fr"
    for org, name in zip(orgs, ("Dijon Métropole", "CHU Dijon Bourgogne", "Université de Bourgogne"), strict=True):
        org.name = name
    group.name = "Électricité 2027-2029"
    company = factories.supplier_company(
        trades=("09310000",), postcode="21000", city="Dijon", name="Énergies de Bourgogne", siret="12345678200010"
    )
    factories.user("supplier", email="offres@energies.example.fr", supplier=company)
    factories.supplier_company(trades=("09310000",), postcode="71100", city="Chalon-sur-Saône", name="Saône Énergie")
    db.session.commit()

    # The coordinator prepares the call from the constituted group's page and publishes it.
    log_in(page, "coordination@dm.example.fr")
    page.goto(f"/groups/{group.id}")
    page.get_by_role("link", name="Prepare a call").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Prepare a call for tenders")
    page.locator("#title").fill("Fourniture d'électricité 2027-2029")
    page.locator("#description").fill(
        "Électricité des sites des trois membres, 36 mois à compter du 1er septembre 2027."
    )
    page.locator("#questions_deadline").fill("2030-03-01T12:00")
    page.locator("#bid_deadline").fill("2030-03-12T12:00")
    page.locator("#lots-0-title").fill("Électricité — sites de Dijon")
    page.locator("#lots-0-estimated_amount").fill("600 000,00")
    expect(page.locator("#lots-0-cpv_code")).to_have_value("09310000")
    expect(page.locator("#weight-total")).to_have_text("100")
    screenshot(page, "call-new")
    page.get_by_role("button", name="Create the draft call").click()

    expect(page.locator("#call-status")).to_have_text("Draft")
    call = db.session.scalar(sa.select(Call))
    assert call.bid_deadline.astimezone(UTC).hour == 11  # noon in Paris, in winter
    expect(page.locator("#matched-suppliers li").first).to_contain_text("Énergies de Bourgogne")
    page.get_by_role("button", name="Publish the call").click()
    page.get_by_role("button", name="Yes, publish the call").click()  # the confirmation step
    expect(page.locator("#call-status")).to_have_text("Open for bids")
    expect(page.locator("#sealed-notice")).to_contain_text("Bids are sealed until")
    screenshot(page, "call")

    # The supplier finds it on its home page, bids with a French decimal comma and gets its receipt.
    context = browser_context(browser, live_server)
    supplier = context.new_page()
    supplier.set_default_timeout(10_000)
    log_in(supplier, "offres@energies.example.fr")
    screenshot(supplier, "calls-home")
    supplier.get_by_role("link", name="Calls for tenders").first.click()
    expect(supplier.locator("table.calls-table tbody tr")).to_have_count(1)
    screenshot(supplier, "calls-list")
    supplier.goto("/")
    supplier.locator(".home-calls").get_by_role("link", name="Fourniture d'électricité 2027-2029").click()
    expect(supplier.get_by_role("heading", level=1)).to_contain_text("Fourniture d'électricité 2027-2029")
    form = supplier.locator("form.bid-form").first
    form.get_by_label("Amount excl. VAT (€)").fill("498 765,43")
    form.get_by_label("Delivery distance (km)").fill("12,5")
    form.get_by_label("Technical note").fill(
        "Électricité d'origine renouvelable certifiée, suivi mensuel des consommations."
    )
    form.get_by_role("button", name="Submit my bid").click()

    expect(supplier.get_by_role("heading", level=1)).to_have_text("Bid receipt")
    db.session.expire_all()
    placed = db.session.scalar(sa.select(Bid))
    sealing.reveal_own(db.session.get(Call, placed.call_id), [placed])  # stored sealed: opened in memory
    assert placed.amount == Decimal("498765.43") and placed.delivery_distance_km == Decimal("12.5")
    expect(supplier.locator("#receipt-sha256")).to_have_text(placed.receipt_sha256)
    expect(supplier.locator("#receipt-content")).to_have_text(placed.receipt_content)
    expect(supplier.locator("#receipt-amount")).to_have_text(re.compile(r"€498,765\.43"))
    screenshot(supplier, "receipt")
    with supplier.expect_download() as download:
        supplier.locator("#download-receipt").click()
    assert download.value.suggested_filename == f"mutualis-bid-{placed.id}-receipt.json"
    assert Path(download.value.path()).read_text(encoding="utf-8") == placed.receipt_content

    supplier.get_by_role("link", name="Back to the call").click()
    expect(supplier.locator("#your-bids")).to_contain_text("€498,765.43")
    screenshot(supplier, "call-supplier")
    context.close()
    assert context.csp_violations == []

    # The coordinator's page is unchanged: still sealed, nothing about the bid.
    page.reload()
    expect(page.locator("#sealed-notice")).to_contain_text("Bids are sealed until")
    assert (
        "498,765" not in page.content() and "Énergies de Bourgogne" in page.locator("#matched-suppliers").inner_text()
    )
    assert "Énergies de Bourgogne" not in page.locator("#evaluation").inner_text()


def test_after_the_deadline_the_coordinator_scores_ranks_and_awards_on_the_page(page, db):
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=True) as clock:
        group, orgs, coordinator = factories.constituted_group()
        coordinator.email = "coordination@dm.example.fr"
        for org, name in zip(orgs, ("Dijon Métropole", "CHU Dijon Bourgogne", "Université de Bourgogne"), strict=True):
            org.name = name
        call = factories.call(
            coordinator,
            group,
            description="",
            questions_deadline=start + timedelta(days=10),
            bid_deadline=start + timedelta(days=17),
            publish=True,
        )
        offers = {}
        for name, postcode, amount in (
            ("Énergies de Bourgogne", "21000", "450000.00"),
            ("Saône Énergie", "71100", "500000.00"),
            ("Courant Discount", "75011", "190000.00"),
        ):
            company = factories.supplier_company(trades=("09310000",), postcode=postcode, name=name)
            bidder = factories.user("supplier", supplier=company)
            offers[name] = factories.bid(bidder, call, amount).id
        db.session.commit()
        clock.move_to(start + timedelta(days=17, hours=1))

        log_in(page, "coordination@dm.example.fr")
        page.goto(f"/calls/{call.id}")
        expect(page.locator("#call-status")).to_have_text("Closed")
        ranking = page.locator("table.ranking")
        expect(ranking.locator("tbody tr")).to_have_count(3)
        expect(ranking).to_contain_text("Abnormally low?")
        for name, technical, environmental in (
            ("Énergies de Bourgogne", "70", "60"),
            ("Saône Énergie", "95", "80"),
            ("Courant Discount", "20", "10"),
        ):
            bid_id = offers[name]
            page.locator(f"#score-{bid_id}-technical").fill(technical)
            page.locator(f"#score-{bid_id}-environmental").fill(environmental)
        page.get_by_role("button", name="Save the scores of every bid of lot 1").click()  # one form for the lot
        expect(page.get_by_text("The scores of 3 bids are saved.")).to_be_visible()
        expect(page.locator("#call-status")).to_have_text("Evaluated")
        screenshot(page, "call-evaluation")
        winner = page.locator(f'tr[data-bid="{offers["Saône Énergie"]}"]')
        winner.get_by_role("button", name="Award").click()
        page.get_by_role("button", name="Yes, award the lot").click()
        expect(page.get_by_text("Lot 1 is awarded to Saône Énergie.")).to_be_visible()
        expect(page.locator("table.contracts tbody tr")).to_have_count(3)
        screenshot(page, "call-awarded")
