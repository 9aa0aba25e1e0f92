"""Layout on the screens buyers use, with the demo's data: a 1,366 px laptop (the menu on one line, no page or table
wider than the screen) and a 390 px phone (no page wider than the screen; wide tables scroll in their own box, which
the keyboard can reach)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.demo import seed_demo
from tests.browser.conftest import DEMO_PASSWORD, log_in

pytestmark = pytest.mark.browser

MEASURE = """() => ({
  page: document.documentElement.scrollWidth,
  menu: document.querySelector('nav.navbar').getBoundingClientRect().height,
  cut: [...document.querySelectorAll('.table-responsive, .chart-table-wrap')]
    .filter(box => box.scrollWidth > box.clientWidth + 1)
    .map(box => ({table: (box.querySelector('table') || box).className, focusable: box.tabIndex === 0})),
})"""
LAPTOP_PAGES = ("/", "/needs", "/overlaps", "/groups", "/groups/new", "/spend", "/calls", "/spend/impact")
ADMIN_PAGES = ("/admin/users", "/admin/organizations", "/admin/suppliers", "/admin/audit")
PHONE_PAGES = ("/overlaps", "/needs", "/spend", "/calls")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_menu_holds_on_one_line_and_no_table_is_cut_at_1366_px(page, db, lang):
    seed_demo(db.session)
    db.session.commit()
    page.set_viewport_size({"width": 1366, "height": 800})
    for email, pages in (
        ("coordination@demo.mutualis.fr", LAPTOP_PAGES),
        ("admin@demo.mutualis.fr", LAPTOP_PAGES + ADMIN_PAGES),
    ):
        page.context.clear_cookies()
        log_in(page, email, DEMO_PASSWORD)
        page.goto(f"/lang/{lang}")
        for url in pages:
            page.goto(url)
            measured = page.evaluate(MEASURE)
            assert measured["page"] <= 1366, (email, url, measured)
            assert measured["menu"] < 70, (email, url, measured)  # one line: 56 px
            assert measured["cut"] == [], (email, url, measured)


def test_on_a_phone_no_page_is_wider_than_the_screen_and_wide_tables_scroll_by_keyboard(page, db):
    seed_demo(db.session)
    db.session.commit()
    log_in(page, "coordination@demo.mutualis.fr", DEMO_PASSWORD)
    page.set_viewport_size({"width": 390, "height": 844})
    for lang in ("fr", "en"):
        page.goto(f"/lang/{lang}")
        for url in PHONE_PAGES:
            page.goto(url)
            measured = page.evaluate(MEASURE)
            assert measured["page"] <= 390, (url, measured)
            assert all(box["focusable"] for box in measured["cut"]), (url, measured)


def test_the_keyboard_reaches_the_skip_link_the_menu_and_a_scrolling_table(page, db):
    seed_demo(db.session)
    db.session.commit()
    log_in(page, "coordination@demo.mutualis.fr", DEMO_PASSWORD)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/overlaps")
    page.keyboard.press("Tab")
    expect(page.locator("a.visually-hidden-focusable")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(page.url.split("#")[0] + "#content")
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.hasAttribute('data-scroll-region')"):
            break
    expect(page.locator("[data-scroll-region]:focus")).to_have_count(1)
    assert page.evaluate("() => document.activeElement.scrollLeft") == 0
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.activeElement.scrollLeft > 0")  # the arrow keys scroll the table
