"""Browser tests: Debian's Chromium driven by Playwright against the app served on a loopback port.

Screenshots of the pages the tests walk through are written only when TEST_SCREENSHOTS_DIR names a folder (they cost
time and prove nothing by themselves).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.factories import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


SCREENSHOTS = os.environ.get("TEST_SCREENSHOTS_DIR")
AXE_SCRIPT = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
AXE_IMPACTS_REFUSED = ("serious", "critical")
DEMO_COORDINATOR = "coordination@demo.mutualis.fr"
DEMO_PASSWORD = "mutualis-demo"  # noqa: S105 - the demo accounts' published password


def screenshot(target, name: str) -> None:
    """Save a screenshot of a page (the whole page) or of one element, when TEST_SCREENSHOTS_DIR is set."""
    if not SCREENSHOTS:
        return
    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
    path = str(Path(SCREENSHOTS) / f"{name}.png")
    if hasattr(target, "goto"):
        target.screenshot(path=path, full_page=True)
    else:
        target.screenshot(path=path)


def axe_violations(page) -> list[dict]:
    """The serious and critical accessibility violations axe-core finds on the page as it is now.

    axe-core comes from npm (package.json; ./scripts/test runs `npm ci`). It is evaluated through the DevTools
    protocol, which the page's Content-Security-Policy does not apply to, so no inline script is injected."""
    if not AXE_SCRIPT.exists():
        pytest.fail(f"axe-core is not installed ({AXE_SCRIPT}): run `npm ci` (./scripts/test does)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8") + "\n;0")
    results = page.evaluate(
        # label-content-name-mismatch (off by default in axe): a control's accessible name must contain its visible
        # text, as voice-control users say what they see (the heatmap cells, "8,2 M", were named with the full amount).
        "async () => (await window.axe.run(document, {resultTypes: ['violations'],"
        " rules: {'label-content-name-mismatch': {enabled: true}}})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}))"
    )
    return [v for v in results if v["impact"] in AXE_IMPACTS_REFUSED]


def assert_accessible(page) -> None:
    """Fail with a readable list when axe-core finds a serious or critical violation on the page."""
    violations = axe_violations(page)
    lines = [
        f"{v['impact']} {v['id']} ({v['help']}): {n['target']} — {n['summary']}" for v in violations for n in v["nodes"]
    ]
    assert not lines, f"axe-core on {page.url}:\n" + "\n".join(lines[:40])


def log_in(page, email: str, password: str = PASSWORD) -> None:
    """Log in through the login page of the English interface."""
    page.goto("/lang/en")
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def open_the_demo_as_coordinator(page, db) -> None:
    """Seed the demo data and log its coordinator in (English interface)."""
    from app.demo import seed_demo

    seed_demo(db.session)
    db.session.commit()
    log_in(page, DEMO_COORDINATOR, DEMO_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Purchasing coordination")


_RESPONSE = "tests.response"  # environ key of the response a request of the live server is sending


class _ClosingRequestHandler(WSGIRequestHandler):
    """Werkzeug's development server does not close a response when the browser drops the connection in the middle
    of it (a favicon request cancelled as the page moves on): the static file stays open until it is collected, as
    an unclosed-file warning in whichever test runs then. Gunicorn closes it; this handler does too."""

    def connection_dropped(self, error, environ=None):
        response = (environ or {}).pop(_RESPONSE, None)
        if response is not None and hasattr(response, "close"):
            response.close()


def _keeping_the_response(app):
    def wsgi(environ, start_response):
        environ[_RESPONSE] = response = app(environ, start_response)
        return response

    return wsgi


@pytest.fixture
def live_server(web_app):
    server = make_server(
        "127.0.0.1", 0, _keeping_the_response(web_app), threaded=True, request_handler=_ClosingRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def browser_context(browser, base_url: str):
    """A browser context (one user's browser) that records what the Content-Security-Policy blocks in its pages, in
    `context.csp_violations`: a script, style or handler the policy refuses is a page that does not work."""
    context = browser.new_context(base_url=base_url, locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.csp_violations = []

    def record(message):
        if "Content Security Policy" in message.text:
            context.csp_violations.append(message.text)

    context.on("console", record)
    return context


@pytest.fixture
def page(browser, live_server):
    context = browser_context(browser, live_server)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert context.csp_violations == []
