import sqlalchemy as sa

from tests import factories
from tests.conftest import api_token, csrf_from, login

NEED = {
    "title": "Électricité",
    "cpv_code": "09310000",
    "annual_amount_eur": "1000.00",
    "start_date": "2027-01-01",
    "duration_months": 12,
}


def test_token_is_issued_for_right_credentials_and_opens_the_api(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    response = client.post("/api/v1/tokens", json={"email": "anne@chu.example.fr", "password": "correct-horse-battery"})
    assert response.status_code == 201
    body = response.get_json()
    assert len(body["token"]) >= 32 and body["expires_at"].endswith("+00:00")
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/organizations", headers=headers).status_code == 200


def test_wrong_credentials_get_401_invalid_credentials_in_the_envelope(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    response = client.post("/api/v1/tokens", json={"email": "anne@chu.example.fr", "password": "nope-nope-nope"})
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "invalid_credentials" and error["message"] and error["details"] == {}


def test_token_requests_are_rate_limited(client, db):
    codes = [
        client.post("/api/v1/tokens", json={"email": "x@example.fr", "password": "bad-password"}).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    response = client.post("/api/v1/tokens", json={"email": "x@example.fr", "password": "bad-password"})
    assert response.get_json()["error"]["code"] == "rate_limited"


def test_missing_fields_give_400_validation_error_with_fields(client):
    response = client.post("/api/v1/tokens", json={"email": "anne@chu.example.fr"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert "password" in error["details"]["fields"]


def test_no_token_means_401_unauthenticated_never_html(client):
    response = client.get("/api/v1/organizations")
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "unauthenticated"


def test_an_expired_token_is_refused(client, db):
    from datetime import timedelta

    from app.accounts.models import ApiToken
    from app.clock import utcnow

    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    headers = api_token(client, "anne@chu.example.fr")
    db.session.execute(sa.update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get("/api/v1/organizations", headers=headers).status_code == 401


def test_cookie_authenticated_api_writes_need_the_csrf_token(client, db):
    from app.needs.models import Need

    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    login(client, "anne@chu.example.fr")
    assert client.get("/api/v1/organizations").status_code == 200  # reads with the session cookie work
    token = csrf_from(client.get("/").get_data(as_text=True))
    need = NEED
    # A cookie-authenticated write without the header is refused before reaching the handler: nothing is written.
    refused = client.post("/api/v1/needs", json=need)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 0
    forged = client.post("/api/v1/needs", json=need, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "csrf_failed"
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 0
    created = client.post("/api/v1/needs", json=need, headers={"X-CSRFToken": token})
    assert created.status_code == 201, created.get_json()
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 1
    # Any unsafe method is guarded, even one the path does not offer.
    no_header = client.patch("/api/v1/organizations", json={})
    assert no_header.status_code == 400
    assert no_header.get_json()["error"]["code"] == "csrf_failed"
    with_header = client.patch("/api/v1/organizations", json={}, headers={"X-CSRFToken": token})
    assert with_header.status_code == 405  # past the CSRF guard: the method simply does not exist


def test_organizations_list_buyer_organizations(client, db):
    factories.organization("CHU", name="CHU Dijon Bourgogne", kind="hospital")
    factories.user("supplier", email="s@example.fr")
    db.session.commit()
    body = client.get("/api/v1/organizations", headers=api_token(client, "s@example.fr")).get_json()
    assert {"code": "CHU", "name": "CHU Dijon Bourgogne", "kind": "hospital"} in body["items"]
    assert body["next"] is None


def test_cpv_search_by_words_and_prefix_in_the_requested_language(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    headers = api_token(client, "anne@chu.example.fr")
    fr = client.get("/api/v1/cpv?q=electricite&limit=5", headers=headers).get_json()["items"]
    assert any(item["code"] == "09310000" and item["label"] == "Électricité" for item in fr)
    en = client.get("/api/v1/cpv?q=0931", headers={**headers, "Accept-Language": "en"}).get_json()["items"]
    assert en[0] == {"code": "09310000", "check_digit": "5", "label": "Electricity", "level": "class"}
    bad = client.get("/api/v1/cpv?limit=500", headers=headers)
    assert bad.status_code == 400 and "limit" in bad.get_json()["error"]["details"]["fields"]


def test_openapi_document_describes_every_api_endpoint(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_only_a_valid_bearer_token_skips_the_csrf_check(client, db):
    """A cookie session that sends any `Authorization: Bearer …` header is still a cookie session: CSRF applies."""
    from app.needs.models import Need

    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    need = NEED
    bearer = api_token(client.application.test_client(), "anne@chu.example.fr")
    assert client.post("/api/v1/needs", json=need, headers=bearer).status_code == 201  # a real token needs no CSRF
    login(client, "anne@chu.example.fr")
    forged = client.post("/api/v1/needs", json=need, headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "csrf_failed"
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 1


def test_every_operation_documents_its_error_answers_with_the_envelope(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    responses = spec["components"]["responses"]
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status in ("400", "401", "403", "404", "409", "422", "429", "503"):
                response = operation["responses"][status]
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (path, method, status)
            checked += 1
    assert checked >= 40
    assert "Retry-After" in responses["ServiceUnavailable"]["headers"]
    envelope = spec["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["required"] == ["error"]
