import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.needs.models import Need
from tests import factories
from tests.conftest import api_token

NEED = {
    "title": "Électricité",
    "cpv_code": "09310000-5",
    "annual_amount_eur": "120000.50",
    "start_date": "2027-01-01",
    "duration_months": 36,
}


@pytest.fixture
def people(db):
    chu, ub = factories.organization("CHU"), factories.organization("UB")
    for email, role, org in [
        ("chu@x.fr", "buyer", chu),
        ("ub@x.fr", "buyer", ub),
        ("coord@x.fr", "coordinator", None),
        ("admin@x.fr", "admin", None),
        ("sup@x.fr", "supplier", None),
    ]:
        factories.user(role, email=email, organization_=org)
    db.session.commit()
    return {"chu": chu, "ub": ub}


def test_buyer_creates_a_need_and_gets_it_back(client, people):
    headers = api_token(client, "chu@x.fr")
    response = client.post("/api/v1/needs", json={**NEED, "status": "submitted"}, headers=headers)
    assert response.status_code == 201
    body = response.get_json()
    assert body["organization"] == "CHU" and body["status"] == "submitted" and body["cpv_code"] == "09310000"
    assert body["annual_amount_eur"] == "120000.50" and body["total_amount_eur"] == "360001.50"
    again = client.get(f"/api/v1/needs/{body['id']}", headers=headers).get_json()
    assert again["title"] == "Électricité" and again["version"] == body["version"]


def test_renewals_and_options_are_optional_and_count_in_the_total(client, people):
    headers = api_token(client, "chu@x.fr")
    plain = client.post("/api/v1/needs", json=NEED, headers=headers).get_json()
    assert (plain["renewal_count"], plain["renewal_months"], plain["options_amount_eur"]) == (0, 36, "0.00")
    assert plain["total_amount_eur"] == "360001.50"  # 120 000.50 × 36 / 12
    body = {
        **NEED,
        "annual_amount_eur": "10000.00",
        "duration_months": 12,
        "renewal_count": 3,
        "options_amount_eur": "2500.00",
    }
    renewed = client.post("/api/v1/needs", json=body, headers=headers).get_json()
    assert renewed["renewal_months"] == 12 and renewed["total_amount_eur"] == "42500.00"
    bad = client.post("/api/v1/needs", json={**NEED, "renewal_count": 11}, headers=headers)
    assert bad.status_code == 400 and "renewal_count" in bad.get_json()["error"]["details"]["fields"]


def test_status_defaults_to_draft(client, people):
    body = client.post("/api/v1/needs", json=NEED, headers=api_token(client, "chu@x.fr")).get_json()
    assert body["status"] == "draft"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"annual_amount_eur": "-1"}, "annual_amount_eur"),
        ({"annual_amount_eur": "12.345"}, "annual_amount_eur"),
        ({"cpv_code": "12345678"}, "cpv_code"),
        ({"start_date": "2027-02-31"}, "start_date"),
        ({"duration_months": 0}, "duration_months"),
        ({"annual_amount_eur": True}, "annual_amount_eur"),
    ],
)
def test_bad_input_gives_400_naming_the_field(client, people, change, field):
    response = client.post("/api/v1/needs", json={**NEED, **change}, headers=api_token(client, "chu@x.fr"))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]["fields"]


def test_missing_required_fields_are_each_named(client, people):
    response = client.post("/api/v1/needs", json={"title": "x"}, headers=api_token(client, "chu@x.fr"))
    fields = response.get_json()["error"]["details"]["fields"]
    assert {"cpv_code", "annual_amount_eur", "start_date", "duration_months"} <= set(fields)


@pytest.mark.parametrize("email", ["coord@x.fr", "admin@x.fr", "sup@x.fr"])
def test_only_buyers_may_create(client, people, email):
    response = client.post("/api/v1/needs", json=NEED, headers=api_token(client, email))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_suppliers_never_see_needs(client, people):
    headers = api_token(client, "sup@x.fr")
    assert client.get("/api/v1/needs", headers=headers).status_code == 403
    assert client.get("/api/v1/overlaps", headers=headers).status_code == 403


def test_read_scopes_per_role(client, people):
    chu = api_token(client, "chu@x.fr")
    draft = client.post("/api/v1/needs", json=NEED, headers=chu).get_json()
    submitted = client.post("/api/v1/needs", json={**NEED, "status": "submitted"}, headers=chu).get_json()
    ub, coord = api_token(client, "ub@x.fr"), api_token(client, "coord@x.fr")
    assert client.get(f"/api/v1/needs/{submitted['id']}", headers=ub).status_code == 404
    assert client.get("/api/v1/needs", headers=ub).get_json()["items"] == []
    assert client.get(f"/api/v1/needs/{draft['id']}", headers=coord).status_code == 404
    ids = [n["id"] for n in client.get("/api/v1/needs", headers=coord).get_json()["items"]]
    assert ids == [submitted["id"]]
    assert client.patch(f"/api/v1/needs/{submitted['id']}", json={"title": "x"}, headers=ub).status_code == 404
    assert client.delete(f"/api/v1/needs/{submitted['id']}", headers=ub).status_code == 404


def test_list_filters_and_next_page(client, people):
    chu = api_token(client, "chu@x.fr")
    for code in ("09310000", "09123000", "90911200"):
        client.post("/api/v1/needs", json={**NEED, "cpv_code": code, "status": "submitted"}, headers=chu)
    page = client.get("/api/v1/needs?cpv=09&limit=1", headers=chu).get_json()
    assert len(page["items"]) == 1 and page["next"].startswith("/api/v1/needs?")
    second = client.get(page["next"], headers=chu).get_json()
    assert second["next"] is None
    assert {page["items"][0]["cpv_code"], second["items"][0]["cpv_code"]} == {"09310000", "09123000"}
    bad = client.get("/api/v1/needs?cpv=x", headers=chu)
    assert bad.status_code == 400 and "cpv" in bad.get_json()["error"]["details"]["fields"]


def test_patch_with_stale_version_gives_409(client, people):
    chu = api_token(client, "chu@x.fr")
    need = client.post("/api/v1/needs", json=NEED, headers=chu).get_json()
    first = client.patch(f"/api/v1/needs/{need['id']}", json={"title": "A", "version": need["version"]}, headers=chu)
    assert first.status_code == 200 and first.get_json()["version"] == need["version"] + 1
    second = client.patch(f"/api/v1/needs/{need['id']}", json={"title": "B", "version": need["version"]}, headers=chu)
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "stale_version"


def test_patch_status_and_delete(client, people, db):
    chu = api_token(client, "chu@x.fr")
    need = client.post("/api/v1/needs", json=NEED, headers=chu).get_json()
    assert (
        client.patch(f"/api/v1/needs/{need['id']}", json={"status": "submitted"}, headers=chu).get_json()["status"]
        == "submitted"
    )
    bad = client.patch(f"/api/v1/needs/{need['id']}", json={"status": "grouped"}, headers=chu)
    assert bad.status_code == 400
    assert client.delete(f"/api/v1/needs/{need['id']}", headers=chu).status_code == 204
    assert client.get(f"/api/v1/needs/{need['id']}", headers=chu).status_code == 404


def test_import_csv_all_or_nothing(client, people, db):
    chu = api_token(client, "chu@x.fr")
    good = "title,cpv_code,annual_amount_eur,start_date,duration_months\nPaper,30192000,1000.00,2027-01-01,12\n"
    response = client.post(
        "/api/v1/needs/import",
        data={"file": (io.BytesIO(good.encode()), "n.csv")},
        headers=chu,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201 and response.get_json() == {"imported": 1}
    bad = good + "Bad,30192000,abc,2027-01-01,12\n"
    response = client.post(
        "/api/v1/needs/import",
        data={"file": (io.BytesIO(bad.encode()), "n.csv")},
        headers=chu,
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    rows = response.get_json()["error"]["details"]["rows"]
    assert rows and rows[0]["row"] == 3 and rows[0]["column"] == "annual_amount_eur" and rows[0]["message"]
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 1


def _import_workbook(client, book: bytes):
    return client.post(
        "/api/v1/needs/import",
        data={"file": (io.BytesIO(book), "besoins.xlsx")},
        headers=api_token(client, "chu@x.fr"),
        content_type="multipart/form-data",
    )


def test_import_xlsx_with_several_sheets(client, people, db):
    book = factories.xlsx(
        {
            "Notes": [["read me"]],
            "Besoins": [
                ["Intitulé", "Code CPV", "Montant annuel HT (€)", "Date de début", "Durée (mois)"],
                ["Nettoyage", "90911200", 25000.5, date(2027, 4, 1), 24],
            ],
        }
    )
    response = _import_workbook(client, book)
    assert response.status_code == 201, response.get_json()
    need = db.session.scalar(sa.select(Need))
    assert need.annual_amount == Decimal("25000.50") and need.start_date == date(2027, 4, 1)


def test_import_without_a_file_names_the_field(client, people):
    response = client.post(
        "/api/v1/needs/import", data={}, headers=api_token(client, "chu@x.fr"), content_type="multipart/form-data"
    )
    assert response.status_code == 400 and "file" in response.get_json()["error"]["details"]["fields"]


def test_a_spreadsheet_bomb_upload_is_refused_at_once_with_a_clear_message(client, people, db):
    response = _import_workbook(client, factories.raw_xlsx(b"<row/>" * 4_000_000))
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert "besoins.xlsx" in str(error) and "CSV" in str(error)
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 0
