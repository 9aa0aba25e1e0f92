import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.needs.models import Need
from tests import factories
from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_buyer_records_a_need_with_the_cpv_picker_submits_it_and_finds_it_in_the_list(page, db):
    chu = factories.organization("CHU", name="CHU Dijon Bourgogne")
    factories.user("buyer", email="anne@chu.example.fr", organization_=chu)
    db.session.commit()

    log_in(page, "anne@chu.example.fr")
    expect(page.get_by_role("heading", level=1)).to_have_text("CHU Dijon Bourgogne")
    page.get_by_role("link", name="Record a need").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Record a need")

    # The CPV search looks in the labels of the interface language: French words need the French interface.
    # The form is then driven by field ids and button names, which do not depend on translations.
    page.get_by_role("link", name="Français").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.locator("#title").fill("Électricité verte des sites hospitaliers")
    page.locator("#cpv_code-search").fill("électricité")
    page.get_by_role("option").filter(has_text="09310000").first.click()
    expect(page.locator("#cpv_code")).to_have_value("09310000")
    expect(page.locator("#cpv_code-search")).to_have_value(re.compile(r"^09310000 — "))
    page.locator("#annual_amount").fill("1 234 567,89")
    page.locator("#duration_months").fill("36")
    page.locator("#start_date").fill("2027-01-01")
    page.locator("#environmental_criterion").check()
    page.locator("button[name=submit]").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Électricité verte des sites hospitaliers")
    need = db.session.scalar(sa.select(Need))
    assert need.cpv_code == "09310000" and str(need.annual_amount) == "1234567.89" and need.status == "submitted"
    assert need.environmental_criterion and need.duration_months == 36

    page.get_by_role("link", name="English").click()
    expect(page.locator("#need-status")).to_have_text("Submitted")
    page.get_by_role("link", name="Procurement needs").first.click()
    expect(page).to_have_url(re.compile(r"/needs$"))
    row = page.locator("table.needs-table tbody tr").filter(has_text="Électricité verte des sites hospitaliers")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("09310000")
    expect(row).to_contain_text("Electricity")
    expect(row).to_contain_text("€1,234,567.89")
    expect(row).to_contain_text("€3,703,703.67")  # over 36 months
    expect(row).to_contain_text("Submitted")
    screenshot(page, "needs-list")
