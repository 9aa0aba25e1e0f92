"""Walk the URL map: every page refuses anonymous visitors except the ones marked public."""

import re

import pytest

from tests import factories
from tests.conftest import api_token, csrf_from, login

PUBLIC_ENDPOINTS = {
    "main.home",
    "main.set_language",
    "main.health",
    "main.ready",
    "accounts.login",
    "accounts.register",
    "accounts.registration_sent",
    "accounts.confirm_registration",
    "accounts.accept_invitation",
    "reference.cpv_search",
    "static",
    "bootstrap.static",
    "api-docs.openapi_json",
    "api_tokens.create_token",
    # Published calls and their open data are public; drafts answer 404 (tests/api/test_open_data.py).
    "calls.list_calls",
    "calls.call_detail",
    "calls.download_document",
    "api_calls.list_calls",
    "api_calls.get_call",
    "api_calls.download_document",
    "api_calls.ocds_package",
}


def _sample_url(rule) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "1" if "id" in m.group(1) else "x", rule.rule)


def _rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint not in ("static", "bootstrap.static")]


def test_public_pages_are_exactly_the_marked_ones(app):
    public = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "is_public", False):
            public.add(rule.endpoint)
    assert public <= PUBLIC_ENDPOINTS
    assert {"accounts.login", "accounts.register", "main.home"} <= public


def test_every_non_public_route_refuses_anonymous_visitors(app, client):
    """Every method of every non-public route refuses an anonymous visitor: pages send it to the login page, the API
    answers 401. Unsafe methods carry a valid CSRF token of the visitor's session, so that the refusal counted is the
    missing login, not the missing token."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    checked = 0
    for rule in _rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            url = _sample_url(rule)
            if method == "GET":
                response = client.open(url, method=method)
            else:
                response = client.open(url, method=method, data={"csrf_token": token}, headers={"X-CSRFToken": token})
            if rule.rule.startswith("/api/"):
                assert response.status_code == 401, (rule.rule, method, response.status_code)
                assert response.get_json()["error"]["code"] == "unauthenticated"
            else:
                assert response.status_code == 302, (rule.rule, method, response.status_code)
                assert response.headers["Location"].startswith("/login"), (rule.rule, method)
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize("role", ["buyer", "supplier", "coordinator"])
def test_admin_pages_are_refused_to_other_roles(app, client, db, role):
    factories.user(role, email=f"{role}@example.fr")
    db.session.commit()
    login(client, f"{role}@example.fr")
    for url in ("/admin/organizations", "/admin/organizations/new", "/admin/users", "/admin/invitations/new"):
        assert client.get(url).status_code == 403, url
    expected = 200 if role == "coordinator" else 403
    assert client.get("/admin/suppliers").status_code == expected


def test_admin_pages_open_for_admins(client, db):
    factories.user("admin", email="admin@example.fr")
    factories.organization("CHU")
    db.session.commit()
    login(client, "admin@example.fr")
    for url in (
        "/admin/organizations",
        "/admin/organizations/new",
        "/admin/users",
        "/admin/invitations/new",
        "/admin/suppliers",
    ):
        assert client.get(url).status_code == 200, url


def test_api_routes_refuse_a_bad_token_with_the_envelope(app, client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    api_token(client, "anne@chu.example.fr")  # a valid token exists, but not this one
    response = client.get("/api/v1/cpv?q=09", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"
