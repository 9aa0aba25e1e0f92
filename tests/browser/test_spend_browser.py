import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser.conftest import log_in, open_the_demo_as_coordinator, screenshot

pytestmark = pytest.mark.browser


def test_coordinator_sees_the_spend_map_charts_with_their_tables_and_drills_down(page, db):
    open_the_demo_as_coordinator(page, db)

    page.locator("#analysis-menu").click()  # the menu groups the spend map, the impact and the portfolio
    page.get_by_role("link", name="Spend map").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Spend map")
    chart = page.locator("canvas#chart-categories")
    expect(chart).to_have_attribute("data-rendered", "true")
    box = chart.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 200
    # The canvas holds a drawing, not a blank surface.
    painted = chart.evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )
    assert painted > 1000
    table = page.locator("table[data-chart-table=chart-categories] tbody tr")
    assert table.count() >= 5
    expect(page.locator("table[data-chart-table=chart-years] tbody tr").first).to_contain_text("2024")
    expect(page.locator("[data-summary=total]")).to_contain_text("€")
    screenshot(page, "spend")

    page.locator("table.categories tr[data-prefix='45'] a").first.click()
    expect(page).to_have_url(re.compile(r"prefix=45"))
    expect(page.locator("table.lines-table tbody tr").first).to_be_visible()
    assert page.locator("table.categories tr[data-prefix]").evaluate_all(
        "rows => rows.every(r => r.dataset.prefix.length === 3 && r.dataset.prefix.startsWith('45'))"
    )

    page.locator("#analysis-menu").click()
    page.get_by_role("link", name="Impact", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Impact")
    expect(page.locator("canvas#chart-local")).to_have_attribute("data-rendered", "true")
    expect(page.locator("canvas#chart-carbon")).to_have_attribute("data-rendered", "true")
    expect(page.get_by_text("An estimate, not a measurement.")).to_be_visible()
    screenshot(page, "spend-impact")


def test_coordinator_uploads_a_ledger_sees_the_preview_and_confirms(page, db, tmp_path):
    open_the_demo_as_coordinator(page, db)
    ledger = tmp_path / "grand-livre.csv"
    ledger.write_text(
        "Date;Fournisseur;Code CPV;Montant HT (€);Objet;Code postal du fournisseur\n"
        "15/03/2025;Papeterie test;30192000;1 234,50;Ramettes;21000\n"
        "16/03/2025;Papeterie test;30192000;99,90;Enveloppes;21000\n",
        encoding="utf-8",
    )
    page.goto("/spend/imports")
    expect(page.get_by_role("heading", level=1)).to_have_text("Import past spend")
    page.get_by_label("File to import").set_input_files(str(ledger))
    page.get_by_label("Organization").select_option("UB")
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("2 lines are ready to import for UB")).to_be_visible()
    assert page.locator("table.import-preview tbody tr").count() == 2
    screenshot(page, "spend-imports")
    page.get_by_role("button", name="Confirm the import").click()
    expect(page.get_by_text("2 spend lines imported for UB.")).to_be_visible()
    expect(page.locator("table.imports-table")).to_contain_text("grand-livre.csv")


def test_rolling_an_import_back_asks_first_and_does_nothing_when_refused(page, db):
    """The confirmation is a static script (data-confirm), allowed by the Content-Security-Policy."""
    from app.demo import seed_demo
    from app.spend.models import SpendImport

    seed_demo(db.session)
    db.session.commit()
    log_in(page, "admin@demo.mutualis.fr", "mutualis-demo")
    page.goto("/spend/imports")
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.get_by_role("button", name="Roll back").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import past spend")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).where(SpendImport.rolled_back_at.is_not(None))) == 0
    page.once("dialog", lambda dialog: answer(dialog, True))
    page.get_by_role("button", name="Roll back").first.click()
    expect(page.locator(".alert-success")).to_be_visible()
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).where(SpendImport.rolled_back_at.is_not(None))) == 1
    assert questions == ["Roll back this whole import?"] * 2
