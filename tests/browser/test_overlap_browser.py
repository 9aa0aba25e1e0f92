import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_the_demo_as_coordinator, screenshot

pytestmark = pytest.mark.browser


def test_coordinator_explores_the_overlap_map_of_the_demo(page, db):
    open_the_demo_as_coordinator(page, db)

    page.get_by_role("link", name="Open the overlap map").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overlap map")
    screenshot(page, "overlaps")

    overlaps = page.locator("tbody.overlap")
    assert overlaps.count() > 3
    class_overlaps = int(re.sub(r"\D", "", page.locator("[data-summary=count]").inner_text()))
    first = overlaps.first
    assert first.locator(".org-cell .org-badge").count() >= 2
    expect(first.locator("[data-procedure]")).to_be_visible()

    needs = first.locator(".needs-table")
    expect(needs).to_be_hidden()
    first.locator("summary").click()
    expect(needs).to_be_visible()
    assert needs.locator("tbody tr").count() >= 2
    expect(needs.get_by_role("link").first).to_have_attribute("href", re.compile(r"^/needs/\d+$"))
    screenshot(first, "overlaps-detail")

    expect(page.locator("table.heatmap td.heat a").first).to_be_visible()
    screenshot(page.locator("#heatmap"), "overlaps-heatmap")

    page.get_by_label("CPV level").select_option("division")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"level=division"))
    expect(page.get_by_label("CPV level")).to_have_value("division")
    division_overlaps = int(re.sub(r"\D", "", page.locator("[data-summary=count]").inner_text()))
    assert 0 < page.locator("tbody.overlap").count() <= division_overlaps < class_overlaps  # a page of each
    assert all(len(p) == 2 for p in page.locator("tbody.overlap").evaluate_all("els => els.map(e => e.dataset.prefix)"))
    screenshot(page, "overlaps-division")
