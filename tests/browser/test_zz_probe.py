import pytest
from tests.browser.conftest import axe_violations, open_the_demo_as_coordinator
pytestmark = pytest.mark.browser

PAGES = ["/", "/needs", "/groups", "/overlaps", "/spend", "/calls", "/impact", "/admin/users", "/organizations"]

def test_probe(page, db):
    open_the_demo_as_coordinator(page, db)
    for lang in ("en", "fr"):
        page.goto(f"/lang/{lang}")
        for url in PAGES:
            page.goto(url)
            for v in axe_violations(page):
                print(lang, url, v["impact"], v["id"], len(v["nodes"]), [n["target"] for n in v["nodes"][:3]])
