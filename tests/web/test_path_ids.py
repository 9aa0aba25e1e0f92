"""Ids in paths: every route with an id answers 404 for one no BIGINT holds (or 0), on pages and on the API, before
any query is sent — never a 500 from the database driver."""

import pytest

from app.routing import IdConverter
from tests import factories
from tests.conftest import api_token, login

OUT_OF_RANGE = ["9223372036854775808", "99999999999999999999", "0", "-1", "00"]


def _id_rules(app):
    rules = []
    for rule in app.url_map.iter_rules():
        ids = [name for name, converter in rule._converters.items() if isinstance(converter, IdConverter)]
        if ids:
            rules.append((rule, ids))
    return rules


def _url(rule, values: dict) -> str:
    url = rule.rule
    for name, converter in rule._converters.items():
        pattern = f"<{'int:' if isinstance(converter, IdConverter) else ''}{name}>"
        assert pattern in url, (rule.rule, name)
        url = url.replace(pattern, values.get(name, "1"))
    return url


def test_every_int_in_the_url_map_is_the_bounded_id_converter(app):
    id_rules = _id_rules(app)
    assert len(id_rules) >= 60
    assert any(rule.rule.startswith("/api/") for rule, _ in id_rules)
    assert any(not rule.rule.startswith("/api/") for rule, _ in id_rules)
    for rule, ids in id_rules:
        for name in ids:
            converter = rule._converters[name]
            assert (converter.min, converter.max) == (1, 2**63 - 1), rule.rule


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_ids_out_of_range_answer_404_on_every_route(app, db, client, new_client, value):
    """Logged in (pages by cookie, the API by bearer token): each id of each route, in turn, out of range."""
    factories.user("coordinator", email="coord@example.fr")
    db.session.commit()
    login(client, "coord@example.fr")
    api_client = new_client()
    bearer = api_token(api_client, "coord@example.fr")
    checked = 0
    for rule, ids in _id_rules(app):
        for name in ids:
            url = _url(rule, {name: value})
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                api = rule.rule.startswith("/api/")
                response = (api_client if api else client).open(url, method=method, headers=bearer if api else {})
                assert response.status_code == 404, (method, url, response.status_code)
                if api:
                    assert response.get_json()["error"]["code"] == "not_found", url
                else:
                    assert "text/html" in response.content_type, url
                checked += 1
    assert checked >= 70


def test_the_largest_bigint_is_looked_up_and_not_found(app, db, client):
    """2**63 - 1 passes the converter and reaches the database, which finds nothing: 404, not a driver error."""
    factories.user("coordinator", email="coord@example.fr")
    db.session.commit()
    bearer = api_token(client, "coord@example.fr")
    largest = str(2**63 - 1)
    for url in (f"/api/v1/needs/{largest}", f"/api/v1/groups/{largest}", f"/api/v1/calls/{largest}"):
        response = client.get(url, headers=bearer)
        assert response.status_code == 404, url
        assert response.get_json()["error"]["code"] == "not_found"
    login(client, "coord@example.fr")
    for url in (f"/needs/{largest}", f"/groups/{largest}", f"/calls/{largest}"):
        assert client.get(url).status_code == 404, url


def test_openapi_documents_the_id_range(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    parameter = next(p for p in spec["paths"]["/api/v1/needs/{need_id}"]["parameters"] if p["name"] == "need_id")
    assert parameter["schema"]["minimum"] == 1
    assert parameter["schema"]["maximum"] == 2**63 - 1
