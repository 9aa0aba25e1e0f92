from datetime import date
from decimal import Decimal

import pytest

from app.needs.models import Need
from tests import factories
from tests.conftest import api_token


def _need(org, cpv, annual, months, start, status="submitted"):
    from app.extensions import db

    need = Need(
        organization_id=org.id,
        title=f"{org.code} {cpv}",
        cpv_code=cpv,
        annual_amount=Decimal(annual),
        start_date=start,
        duration_months=months,
        status=status,
    )
    db.session.add(need)
    db.session.flush()
    return need


@pytest.fixture
def setup(db):
    chu, ub, gdh = (factories.organization(c) for c in ("CHU", "UB", "GDH"))
    _need(chu, "09310000", "100000.00", 36, date(2027, 2, 1))
    _need(ub, "09310000", "80000.00", 12, date(2027, 5, 1))
    _need(gdh, "90911200", "30000.00", 24, date(2027, 3, 1))
    _need(ub, "90919200", "40000.00", 24, date(2027, 3, 1))
    _need(chu, "90911200", "999999.00", 24, date(2027, 3, 1), status="draft")  # drafts never count
    factories.user("coordinator", email="coord@x.fr")
    factories.user("buyer", email="chu@x.fr", organization_=chu)
    db.session.commit()


def test_coordinator_sees_overlaps_with_amounts_and_procedures(client, setup):
    items = client.get(
        "/api/v1/overlaps?level=class&from=2027-01-01", headers=api_token(client, "coord@x.fr")
    ).get_json()["items"]
    by_prefix = {item["cpv_prefix"]: item for item in items}
    assert set(by_prefix) == {"0931", "9091"}
    electricity = by_prefix["0931"]
    assert electricity["organizations"] == ["CHU", "UB"]
    assert electricity["annual_amount_eur"] == "180000.00" and electricity["total_amount_eur"] == "380000.00"
    assert electricity["procedure"]["code"] == "formal"
    assert electricity["procedure_alone"]["CHU"]["code"] == "formal"
    assert electricity["procedure_alone"]["UB"]["code"] == "adapted"
    assert electricity["label"] == "Électricité" and electricity["level"] == "class"
    assert by_prefix["9091"]["total_amount_eur"] == "140000.00"


def test_level_and_window_change_the_result(client, setup):
    headers = api_token(client, "coord@x.fr")
    category = client.get("/api/v1/overlaps?level=category&from=2027-01-01", headers=headers).get_json()["items"]
    assert [i["cpv_prefix"] for i in category] == ["09310"]  # 90911 and 90919 differ at category level
    short = client.get("/api/v1/overlaps?level=class&from=2027-01-01&window_months=2", headers=headers).get_json()
    assert short["items"] == []  # only CHU's electricity starts before March


def test_buyer_sees_only_overlaps_including_its_organization(client, setup):
    items = client.get("/api/v1/overlaps?from=2027-01-01", headers=api_token(client, "chu@x.fr")).get_json()["items"]
    assert [i["cpv_prefix"] for i in items] == ["0931"]


def test_bad_parameters_give_400_with_fields(client, setup):
    headers = api_token(client, "coord@x.fr")
    response = client.get("/api/v1/overlaps?level=family&window_months=0", headers=headers)
    assert response.status_code == 400
    assert {"level", "window_months"} <= set(response.get_json()["error"]["details"]["fields"])
    early = client.get("/api/v1/overlaps?from=2020-01-01", headers=headers)
    assert early.status_code == 400 and "from" in early.get_json()["error"]["details"]["fields"]


def test_procedure_labels_follow_the_language(client, setup):
    headers = {**api_token(client, "coord@x.fr"), "Accept-Language": "en"}
    item = client.get("/api/v1/overlaps?from=2027-01-01", headers=headers).get_json()["items"][0]
    assert item["procedure"]["label"] == "Formal procedure (European threshold)"
    assert item["label"] == "Electricity"


def test_a_class_named_by_a_group_code_still_gets_its_label(client, db):
    chu, ub = factories.organization("CHU"), factories.organization("UB")
    _need(chu, "15100000", "1000.00", 12, date(2027, 2, 1))  # a group code: its class prefix is 1510
    _need(ub, "15100000", "1000.00", 12, date(2027, 2, 1))
    factories.user("coordinator", email="coord@x.fr")
    db.session.commit()
    item = client.get(
        "/api/v1/overlaps?level=class&from=2027-01-01", headers=api_token(client, "coord@x.fr")
    ).get_json()["items"][0]
    assert item["cpv_prefix"] == "1510" and item["label"].startswith("Produits de l'élevage")
