"""Every response carries the security headers, and no page runs a script or a style the policy would have to allow
inline: the Content-Security-Policy needs no 'unsafe-inline'."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from app.calls.models import Bid, Call, CallDocument, Contract
from app.demo import seed_demo
from app.groups.models import Lot, PurchaseGroup
from app.needs.models import Need
from app.organizations.models import Organization
from app.spend.models import SpendImport, SpendImportJob
from tests.conftest import login, make_app

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
DEMO_PASSWORD = "mutualis-demo"  # noqa: S105 - the documented demo password
ROLES = {
    "anonymous": None,
    "admin": "admin@demo.mutualis.fr",
    "coordinator": "coordination@demo.mutualis.fr",
    "buyer": "achats.chu@demo.mutualis.fr",
    "supplier": "fournisseur1@demo.mutualis.fr",
}
# A tag opening an inline script (a JSON data block is not run), an inline event handler, an inline style.
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<[a-z][^>]*\sstyle\s*=|<style\b", re.I)
JAVASCRIPT_URL = re.compile(r"=\s*[\"']?\s*javascript:", re.I)
# Path arguments filled from the demo's rows (the first one of each table), or with a fixed value.
ARGUMENT_TABLES = {
    "group_id": PurchaseGroup.id,
    "call_id": Call.id,
    "need_id": Need.id,
    "lot_id": Lot.id,
    "bid_id": Bid.id,
    "organization_id": Organization.id,
    "document_id": CallDocument.id,
    "job_id": SpendImportJob.id,
    "import_id": SpendImport.id,
    "contract_id": Contract.id,
}
FIXED_ARGUMENTS = {"code": "fr", "fmt": "csv", "kind": "categories", "token": "x", "filename": "css/mutualis.css"}


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def assert_security_headers(response, where: str) -> None:
    directives = csp_directives(response)
    assert directives.get("default-src") == ["'self'"], where
    assert directives.get("script-src") == ["'self'"], where
    assert directives.get("style-src") == ["'self'"], where
    assert directives.get("object-src") == ["'none'"], where
    assert directives.get("frame-ancestors") == ["'none'"], where
    assert directives.get("base-uri") == ["'none'"], where
    assert directives.get("form-action") == ["'self'"], where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy") == "same-origin", where
    assert response.headers.get("X-Frame-Options") == "DENY", where


def inline_code(html: str) -> list[str]:
    found = []
    for pattern in (INLINE_SCRIPT, INLINE_HANDLER, INLINE_STYLE, JAVASCRIPT_URL):
        found += [match.group(0)[:80] for match in pattern.finditer(html)]
    return found


def _get_urls(app, session) -> list[str]:
    values = {name: session.scalar(sa.select(column).limit(1)) for name, column in ARGUMENT_TABLES.items()}
    values.update(FIXED_ARGUMENTS)
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "bootstrap.static":
            continue
        urls.append(re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule.rule))
    return urls


def test_every_page_carries_the_security_headers_and_no_inline_code_for_every_role(app, session, new_client):
    seed_demo(session)  # once for all roles: the demo is what makes most pages render
    session.commit()
    urls = _get_urls(app, session)
    for role, email in ROLES.items():
        client = new_client()
        if email:
            assert login(client, email, DEMO_PASSWORD).status_code == 302
        pages = 0
        for url in urls:
            response = client.get(url)
            body = response.get_data(as_text=True)
            response.close()  # static files are streamed from an open file
            assert_security_headers(response, f"{role} {url} {response.status_code}")
            if response.status_code == 200 and response.mimetype == "text/html":
                assert inline_code(body) == [], f"{role} {url}"
                pages += 1
        assert pages >= {"anonymous": 3, "supplier": 6}.get(role, 10), role  # the walk rendered pages of every kind


def test_errors_and_api_answers_carry_the_security_headers_too(client, db):
    for response in (
        client.get("/no-such-page"),
        client.get("/api/v1/organizations"),
        client.post("/api/v1/tokens", json={}),
        client.get("/api/v1/openapi.json"),
    ):
        assert_security_headers(response, f"{response.request.path} {response.status_code}")


def test_no_template_holds_an_inline_script_a_handler_or_a_style():
    found = {}
    for template in sorted(TEMPLATES.rglob("*.html")):
        problems = inline_code(template.read_text(encoding="utf-8"))
        if problems:
            found[str(template.relative_to(TEMPLATES))] = problems
    assert found == {}


def test_hsts_is_sent_only_when_configured_as_in_production(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers  # plain http on a developer's machine
    secure = make_app(HSTS_SECONDS=31536000).test_client()
    assert secure.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"
