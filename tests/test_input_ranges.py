"""Out-of-range numbers, dates and texts a client sends: 400 naming the field (the API's validation_error, the page's
form with the error on the field), nothing written, never a 500."""

import json
import re

import pytest
import sqlalchemy as sa

from app.needs.models import Need
from tests import factories
from tests.api.test_needs_api import NEED
from tests.conftest import api_token, english, post_form
from tests.web.test_need_pages import need_form


@pytest.fixture
def buyer(db, client):
    """The bearer header of a buyer of the CHU (anne@chu.example.fr)."""
    factories.user("buyer", email="anne@chu.example.fr", organization_=factories.organization("CHU"))
    db.session.commit()
    return api_token(client, "anne@chu.example.fr")


@pytest.fixture
def buyer_client(client, buyer):
    return english(client, "anne@chu.example.fr")


# --- API ---------------------------------------------------------------------------------------------------------


def _refused(response, field):
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True))
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"], error
    return error


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("annual_amount_eur", 1e308),
        ("annual_amount_eur", "1e999"),
        ("annual_amount_eur", "NaN"),
        ("annual_amount_eur", "Infinity"),
        ("annual_amount_eur", "-0.01"),
        ("annual_amount_eur", "1000000000000.00"),
        ("quantity", "1e30"),
        ("duration_months", 10**30),
        ("duration_months", 1e308),
        ("start_date", "1999-12-31"),
        ("start_date", "2101-01-01"),
        ("current_contract_end", "0001-01-01"),
        ("title", "Électri\x00cité"),
        ("description", "lone \ud800 surrogate"),
        ("title", "x" * 201),
        ("delivery_postcode", "2100000000"),
        ("cpv_code", "0" * 5000),
    ],
)
def test_out_of_range_values_are_refused_naming_the_field(client, db, buyer, field, value):
    body = json.dumps({**NEED, field: value})  # ASCII escapes: a lone surrogate travels as \ud800
    _refused(client.post("/api/v1/needs", data=body, content_type="application/json", headers=buyer), field)
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 0


def test_the_largest_amount_is_accepted(client, buyer):
    """The largest total estimated value: a yearly amount over one year, without renewals or options."""
    largest = {**NEED, "annual_amount_eur": "999999999999.99", "duration_months": 12}
    response = client.post("/api/v1/needs", json=largest, headers=buyer)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["total_amount_eur"] == "999999999999.99"


def test_a_total_estimated_value_beyond_the_largest_amount_is_refused_naming_the_yearly_amount(client, buyer):
    too_large = {**NEED, "annual_amount_eur": "999999999999.99", "duration_months": 24}
    _refused(client.post("/api/v1/needs", json=too_large, headers=buyer), "annual_amount_eur")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_json_number_literals_out_of_range_are_refused(client, buyer, literal):
    body = json.dumps(NEED)[:-1] + f', "duration_months": {literal}, "annual_amount_eur": {literal}}}'
    response = client.post("/api/v1/needs", data=body, content_type="application/json", headers=buyer)
    error = _refused(response, "duration_months")
    assert "annual_amount_eur" in error["details"]["fields"]


def test_a_nul_in_a_query_string_is_refused_naming_the_parameter(client, buyer):
    _refused(client.get("/api/v1/needs?cpv=09%00", headers=buyer), "cpv")


def test_ids_out_of_range_in_a_body_are_refused(client, db, buyer):
    factories.user("coordinator", email="coord@x.fr")
    db.session.commit()
    coordinator = api_token(client, "coord@x.fr")
    _refused(client.post("/api/v1/groups", json={"name": "G", "need_ids": [2**63]}, headers=coordinator), "need_ids")
    _refused(client.post("/api/v1/groups", json={"name": "G", "need_ids": [0]}, headers=coordinator), "need_ids")


def test_the_openapi_document_states_the_ranges(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    need = schemas["NeedCreate"]["properties"]
    assert "999999999999.99" in need["annual_amount_eur"]["description"]
    assert "2000-01-01" in need["start_date"]["description"] and "2100-12-31" in need["start_date"]["description"]
    assert schemas["GroupCreate"]["properties"]["need_ids"]["items"]["maximum"] == 2**63 - 1
    assert schemas["NeedCreate"]["properties"]["cpv_code"]["maxLength"] == 12


# --- pages -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("annual_amount", "1e999", "Give a number no larger than 999 999 999 999,99."),
        ("annual_amount", "Infinity", "Not a number"),
        ("annual_amount", "NaN", "Not a number"),
        ("annual_amount", "1e308", "Give a number no larger than 999 999 999 999,99."),
        ("annual_amount", "1 000 000 000 000,00", "Give a number no larger than 999 999 999 999,99."),
        ("quantity", "-1e20", "Give a number no larger than 999 999 999 999,99."),
        ("duration_months", "99999999999999999999", "Give a whole number from 0 to 2147483647."),
        ("start_date", "1999-12-31", "Give a date from 2000 to 2100."),
        ("current_contract_end", "2101-01-01", "Give a date from 2000 to 2100."),
    ],
)
def test_out_of_range_values_are_shown_on_their_field(buyer_client, db, field, value, message):
    response = post_form(buyer_client, "/needs/new", need_form(**{field: value}))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert message in text
    assert f'is-invalid" id="{field}"' in text
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 0


def test_a_nul_character_is_refused_naming_the_field(buyer_client, db):
    response = post_form(buyer_client, "/needs/new", need_form(title="Électri\x00cité"))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "title" in text and "cannot be stored" in text
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 0


def test_multipart_parts_without_a_name_or_with_a_nul_in_a_file_name_are_handled(client, buyer):
    unnamed = (
        b"--b\r\nContent-Disposition: form-data\r\n\r\n-1\r\n"
        b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n'
    )
    response = client.post(
        "/api/v1/needs/import", data=unnamed, content_type="multipart/form-data; boundary=b", headers=buyer
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    nul_name = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00.csv"\r\n\r\nx\r\n--b--\r\n'
    response = client.post(
        "/api/v1/needs/import", data=nul_name, content_type="multipart/form-data; boundary=b", headers=buyer
    )
    _refused(response, "file")


BEYOND_BIGINT = "99999999999999999999"


def test_numbers_in_page_query_strings_beyond_a_bigint_never_reach_the_database(client, db):
    factories.user("coordinator", email="coord@x.fr")
    db.session.commit()
    english(client, "coord@x.fr")
    for url in (
        f"/needs?page={BEYOND_BIGINT}",
        f"/spend?prefix=09&page={BEYOND_BIGINT}",
        f"/groups/new?need_ids={BEYOND_BIGINT}",
    ):
        assert client.get(url).status_code == 200, url
    overlaps = client.get("/overlaps?from=9999-12-31")
    assert overlaps.status_code == 200  # the query form again, with the error on its date
    assert "Give a date from 2000 to 2100." in overlaps.get_data(as_text=True)


def test_an_id_beyond_a_bigint_in_a_form_is_refused_on_its_field(client, db):
    factories.user("coordinator", email="coord@x.fr")
    db.session.commit()
    english(client, "coord@x.fr")
    response = post_form(client, "/groups/new", {"name": "G", "need_ids": BEYOND_BIGINT})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    errors = re.findall(r"invalid-feedback[^>]*>([^<]+)", text)
    assert errors == ["Invalid choice(s): one or more data inputs could not be coerced."], errors


def test_a_value_the_database_refuses_is_a_400_not_a_500():
    """The net under the input checks: PostgreSQL's value errors (too long, out of range, unstorable character)."""
    from sqlalchemy.exc import DataError

    from app.errors import ValidationFailed, from_database

    class Refusal(Exception):
        def __init__(self, sqlstate):
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    for sqlstate in ("22001", "22003", "22008", "22021"):
        assert isinstance(from_database(DataError("INSERT ...", {}, Refusal(sqlstate))), ValidationFailed), sqlstate
    assert from_database(DataError("INSERT ...", {}, Refusal("22012"))) is None  # division by zero: our bug, a 500


def test_a_group_name_longer_than_its_column_is_refused_on_its_field(client, db):
    factories.user("coordinator", email="coord@x.fr")
    db.session.commit()
    english(client, "coord@x.fr")
    response = post_form(client, "/groups/new", {"name": "x" * 201, "need_ids": "1"})
    assert response.status_code == 400
    errors = re.findall(r"invalid-feedback[^>]*>([^<]+)", response.get_data(as_text=True))
    assert "At most 200 characters." in errors, errors
