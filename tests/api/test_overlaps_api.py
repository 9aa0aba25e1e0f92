from datetime import date
from decimal import Decimal

import pytest

from tests import factories
from tests.conftest import api_token


@pytest.fixture
def setup(db):
    chu, ub, gdh = (factories.organization(c) for c in ("CHU", "UB", "GDH"))
    factories.need(chu, cpv="09310000", annual="100000.00", months=36, start=date(2027, 2, 1))
    factories.need(ub, cpv="09310000", annual="80000.00", months=12, start=date(2027, 5, 1))
    factories.need(gdh, cpv="90911200", annual="30000.00", months=24, start=date(2027, 3, 1))
    factories.need(ub, cpv="90919200", annual="40000.00", months=24, start=date(2027, 3, 1))
    # drafts never count
    factories.need(chu, cpv="90911200", annual="999999.00", months=24, start=date(2027, 3, 1), status="draft")
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


def test_overlap_totals_count_renewals_and_options_of_the_needs(client, db):
    chu, ub = factories.organization("CHU"), factories.organization("UB")
    factories.need(chu, annual="40000.00", months=12, renewal_count=3, start=date(2027, 2, 1))
    factories.need(ub, annual="30000.00", months=12, options_amount=Decimal("5000.00"), start=date(2027, 5, 1))
    factories.user("coordinator", email="coord@x.fr")
    db.session.commit()
    (item,) = client.get(
        "/api/v1/overlaps?level=class&from=2027-01-01", headers=api_token(client, "coord@x.fr")
    ).get_json()["items"]
    # CHU 40 000 × (12 + 3 × 12) / 12 = 160 000; UB 30 000 × 12 / 12 + 5 000 = 35 000
    assert item["annual_amount_eur"] == "70000.00" and item["total_amount_eur"] == "195000.00"
    assert item["procedure_alone"]["CHU"]["code"] == "adapted"  # 160 000 ≥ 40 000 / 60 000, below 216 000


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
    # a group code: its class prefix is 1510
    factories.need(chu, cpv="15100000", annual="1000.00", months=12, start=date(2027, 2, 1))
    factories.need(ub, cpv="15100000", annual="1000.00", months=12, start=date(2027, 2, 1))
    factories.user("coordinator", email="coord@x.fr")
    db.session.commit()
    item = client.get(
        "/api/v1/overlaps?level=class&from=2027-01-01", headers=api_token(client, "coord@x.fr")
    ).get_json()["items"][0]
    assert item["cpv_prefix"] == "1510" and item["label"].startswith("Produits de l'élevage")


def test_a_generic_code_is_listed_as_a_possible_overlap_beside_the_items(client, db):
    chu, ub = factories.organization("CHU"), factories.organization("UB")
    generic = factories.need(chu, cpv="30000000", annual="10000.00", months=12, start=date(2027, 2, 1))
    specific = factories.need(ub, cpv="30192000", annual="4000.00", months=24, start=date(2027, 3, 1))
    factories.user("coordinator", email="coord@x.fr")
    factories.user("buyer", email="ub@x.fr", organization_=ub)
    factories.user("buyer", email="other@x.fr", organization_=factories.organization("GDH"))
    db.session.commit()
    body = client.get("/api/v1/overlaps?level=class&from=2027-01-01", headers=api_token(client, "coord@x.fr"))
    body = body.get_json()
    assert body["items"] == []  # no certain overlap: the prefixes differ
    (possible,) = body["possible"]
    assert possible["possible"] is True and possible["generic_code"] == "30000000"
    assert (possible["cpv_prefix"], possible["organizations"]) == ("3019", ["CHU", "UB"])
    assert (possible["need_ids"], possible["generic_need_ids"]) == ([specific.id], [generic.id])
    # 10 000 + 4 000 per year; 10 000 + 4 000 × 24/12 in total
    assert (possible["annual_amount_eur"], possible["total_amount_eur"]) == ("14000.00", "18000.00")
    ub_view = client.get("/api/v1/overlaps?level=class&from=2027-01-01", headers=api_token(client, "ub@x.fr"))
    assert len(ub_view.get_json()["possible"]) == 1
    other = client.get("/api/v1/overlaps?level=class&from=2027-01-01", headers=api_token(client, "other@x.fr"))
    assert other.get_json()["possible"] == []
