"""One status policy for refused actions, by the class of the error, the same for pages and the API (app.errors):
invalid input 400, wrong credentials 401, not permitted 403, not visible or unknown 404, conflicts 409 with their
code, a reused Idempotency-Key with another body 422. A refused page is the page the form came from, with the reason
on it (never a 200, never a redirect); one action commits once, a refused one or a page read commits nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import (
    Conflict,
    DomainError,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    ValidationFailed,
)
from app.needs.models import Need
from tests import factories
from tests.conftest import api_token, csrf_from, english

NEED = {
    "title": "Électricité",
    "cpv_code": "09310000",
    "annual_amount": "150000.00",
    "start_date": "2027-01-01",
    "duration_months": "36",
    "save": "y",
}
NEED_JSON = {
    "title": "Électricité",
    "cpv_code": "09310000",
    "annual_amount_eur": "150000.00",
    "start_date": "2027-01-01",
    "duration_months": 36,
}


@pytest.fixture
def people(db):
    chu, ub = factories.organization("CHU"), factories.organization("UB")
    factories.user("buyer", email="anne@chu.fr", organization_=chu)
    factories.user("supplier", email="sam@supplier.fr")
    ids = {
        "draft": factories.need(chu, status="draft").id,
        "grouped": factories.need(chu, status="grouped").id,
        "other": factories.need(ub, status="draft").id,  # another organization's: not visible to Anne
    }
    db.session.commit()
    return ids


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationFailed({"title": ["required"]}), 400),
        (InvalidCredentials("wrong"), 401),
        (NotPermitted("no"), 403),
        (NotFound("none"), 404),
        (Conflict("stale_version"), 409),
        (Conflict("need_grouped"), 409),
        (Conflict("idempotency_key_mismatch"), 422),
    ],
)
def test_the_status_is_the_class_of_the_error(error: DomainError, status: int):
    assert error.status == status


def _page_post(client, url: str, data: dict, page: str = "/"):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


# (what is refused, who, the page's request, the API's request, status, API error code, text on the refused page)
CASES = [
    pytest.param(
        "anne@chu.fr",
        lambda ids: ("/needs/new", {**NEED, "title": " "}),
        lambda ids: ("POST", "/api/v1/needs", {**NEED_JSON, "duration_months": 500}),
        400,
        "validation_error",
        "The title is required.",
        id="invalid input",
    ),
    pytest.param(
        "anne@chu.fr",
        lambda ids: (f"/needs/{ids['draft']}/status", {"status": "withdrawn"}),
        lambda ids: ("PATCH", f"/api/v1/needs/{ids['draft']}", {"status": "withdrawn"}),
        409,
        "invalid_status_change",
        "A need cannot go from draft to withdrawn.",
        id="conflict",
    ),
    pytest.param(
        "anne@chu.fr",
        lambda ids: (f"/needs/{ids['grouped']}/delete", {}),
        lambda ids: ("DELETE", f"/api/v1/needs/{ids['grouped']}", None),
        409,
        "need_grouped",
        "cannot be deleted",
        id="conflict on a grouped need",
    ),
    pytest.param(
        "anne@chu.fr",
        lambda ids: (f"/needs/{ids['other']}/status", {"status": "submitted"}),
        lambda ids: ("PATCH", f"/api/v1/needs/{ids['other']}", {"title": "Mine now"}),
        404,
        "not_found",
        "",
        id="not visible",
    ),
    pytest.param(
        "sam@supplier.fr",
        lambda ids: ("/needs/new", NEED),
        lambda ids: ("POST", "/api/v1/needs", NEED_JSON),
        403,
        "forbidden",
        "",
        id="not permitted",
    ),
]


@pytest.mark.parametrize(("email", "page_request", "api_request", "status", "code", "shown"), CASES)
def test_pages_and_api_refuse_with_the_same_status(
    new_client, db, people, email, page_request, api_request, status, code, shown
):
    before = {need.id: (need.title, need.status) for need in db.session.scalars(sa.select(Need))}

    url, data = page_request(people)
    response = _page_post(english(new_client(), email), url, data)
    assert response.status_code == status
    assert "Location" not in response.headers
    if shown:
        assert shown in response.get_data(as_text=True)

    method, path, body = api_request(people)
    headers = api_token(new_client(), email)
    answer = new_client().open(path, method=method, json=body, headers=headers)
    assert answer.status_code == status
    assert answer.get_json()["error"]["code"] == code

    db.session.expire_all()
    assert {need.id: (need.title, need.status) for need in db.session.scalars(sa.select(Need))} == before


def test_unauthenticated_pages_ask_to_log_in_and_the_api_answers_401(client, people):
    page = _page_post(client, "/needs/new", NEED, page="/login")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    answer = client.post("/api/v1/needs", json=NEED_JSON)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "unauthenticated"


def test_wrong_credentials_are_401_on_the_login_page_and_the_api(client, people):
    page = _page_post(client, "/login", {"email": "anne@chu.fr", "password": "not-the-password"}, page="/login")
    assert page.status_code == 401 and "Location" not in page.headers
    answer = client.post("/api/v1/tokens", json={"email": "anne@chu.fr", "password": "not-the-password"})
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "invalid_credentials"


@pytest.fixture
def commits():
    """How many transactions commit (any session, the app serving the client included)."""
    counted: list[int] = []

    def count(session):
        if not session.in_nested_transaction():
            counted.append(1)

    sa.event.listen(Session, "after_commit", count)
    yield counted
    sa.event.remove(Session, "after_commit", count)


def test_one_action_commits_once_and_a_refused_one_or_a_read_commits_nothing(new_client, db, people, commits):
    anne = english(new_client(), "anne@chu.fr")
    token = csrf_from(anne.get("/needs/new").get_data(as_text=True))
    commits.clear()
    assert anne.get(f"/needs/{people['draft']}").status_code == 200
    assert anne.get("/needs").status_code == 200
    assert commits == []
    assert anne.post("/needs/new", data={**NEED, "title": " ", "csrf_token": token}).status_code == 400
    assert anne.post(f"/needs/{people['grouped']}/delete", data={"csrf_token": token}).status_code == 409
    assert commits == []
    assert anne.post("/needs/new", data={**NEED, "csrf_token": token}).status_code == 302
    assert commits == [1]
    headers = api_token(new_client(), "anne@chu.fr")
    commits.clear()
    assert new_client().post("/api/v1/needs", json=NEED_JSON, headers=headers).status_code == 201
    assert new_client().get("/api/v1/needs", headers=headers).status_code == 200
    assert commits == [1]
