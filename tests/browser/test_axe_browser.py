"""The accessibility check itself: it reports what it is meant to refuse, so a clean page means something."""

import pytest

from tests.browser.conftest import axe_violations

pytestmark = pytest.mark.browser


def test_axe_refuses_a_link_whose_name_hides_its_visible_text_and_accepts_one_that_starts_with_it(browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            '<html lang="fr"><head><title>t</title></head><body><main><h1>Carte</h1>'
            '<a href="#a" aria-label="8 224 000,00 € — CHU">8,2 M</a></main></body></html>'
        )
        assert "label-content-name-mismatch" in [v["id"] for v in axe_violations(page)]
        page.set_content(
            '<html lang="fr"><head><title>t</title></head><body><main><h1>Carte</h1>'
            '<a href="#a" aria-label="8,2 M — 8 224 000,00 € — CHU">8,2 M</a></main></body></html>'
        )
        assert axe_violations(page) == []
    finally:
        context.close()
