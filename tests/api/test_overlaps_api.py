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
    # the same remembered overlaps (and procedure objects) dumped again in French, then in English
    french = client.get("/api/v1/overlaps?from=2027-01-01", headers={**headers, "Accept-Language": "fr"}).get_json()
    labels = {i["procedure"]["label"] for i in french["items"]} | {
        p["label"] for i in french["items"] for p in i["procedure_alone"].values()
    }
    assert "Formal procedure (European threshold)" not in labels and any("européen" in label for label in labels)
    again = client.get("/api/v1/overlaps?from=2027-01-01", headers=headers).get_json()["items"][0]
    assert again["procedure"]["label"] == "Formal procedure (European threshold)"


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


def _codes(db, count):
    import sqlalchemy as sa

    from app.reference.models import CpvCode

    every = db.session.scalars(sa.select(CpvCode.code).order_by(CpvCode.code)).all()
    return every[:: len(every) // count][:count]  # spread over the whole CPV: distinct categories


WIDE = "/api/v1/overlaps?level=category&window_months=60&from=2027-01-01"


def test_overlaps_are_paginated_with_a_query_count_that_does_not_grow(client, db, setup, query_counter):
    orgs = [factories.organization(code) for code in ("A1", "A2", "A3")]
    codes = _codes(db, 250)  # not a multiple of 3: each code gets needs of several organizations
    factories.bulk_needs(orgs, 10, cpvs=codes[:5])
    db.session.commit()
    headers = api_token(client, "coord@x.fr")

    def listing(path):
        with query_counter() as count:
            response = client.get(path, headers=headers)
        assert response.status_code == 200, response.get_json()
        return count.value, response.get_json()

    few, small = listing(WIDE)
    assert small["next"] is None and small["items"] and all(i["need_ids"] for i in small["items"])
    factories.bulk_needs(orgs, 990, cpvs=codes)
    db.session.commit()
    many, body = listing(WIDE)
    assert many == few, (few, many)
    assert len(body["items"]) == 50 and body["next"].endswith("&page=2&per_page=50")
    totals = [float(i["total_amount_eur"]) for i in body["items"]]
    assert totals == sorted(totals, reverse=True)
    _, second = listing(body["next"])
    assert second["items"] and not {i["cpv_prefix"] for i in body["items"]} & {i["cpv_prefix"] for i in second["items"]}
    assert float(second["items"][0]["total_amount_eur"]) <= totals[-1]
    _, everything = listing(WIDE + "&per_page=200&page=1")
    _, rest = listing(WIDE + "&per_page=200&page=2")
    assert len(everything["items"]) + len(rest["items"]) == len(
        {i["cpv_prefix"] for i in everything["items"] + rest["items"]}
    )


@pytest.mark.parametrize("query", ["page=0", "per_page=0", "per_page=201", "page=99999999999"])
def test_overlap_pages_out_of_bounds_are_refused(client, setup, query):
    response = client.get(f"/api/v1/overlaps?{query}", headers=api_token(client, "coord@x.fr"))
    assert response.status_code == 400
    assert set(response.get_json()["error"]["details"]["fields"]) & {"page", "per_page"}


def test_the_overlaps_follow_every_change_of_the_needs(client, db, setup):
    """No cached answer: a new need, a changed one and a withdrawn one show in the next answer."""
    headers = api_token(client, "coord@x.fr")
    chu_headers = api_token(client, "chu@x.fr")

    def waste():
        items = client.get("/api/v1/overlaps?level=class&from=2027-01-01", headers=headers).get_json()["items"]
        return next((i for i in items if i["cpv_prefix"] == "9091"), None)

    assert waste()["organizations"] == ["GDH", "UB"]
    created = client.post(
        "/api/v1/needs",
        headers=chu_headers,
        json={
            "title": "Nettoyage CHU",
            "cpv_code": "90911200",
            "annual_amount_eur": "10000.00",
            "start_date": "2027-04-01",
            "duration_months": 12,
            "status": "submitted",
        },
    )
    assert created.status_code == 201, created.get_json()
    need = created.get_json()
    assert waste()["organizations"] == ["CHU", "GDH", "UB"] and waste()["total_amount_eur"] == "150000.00"
    changed = client.patch(
        f"/api/v1/needs/{need['id']}",
        headers=chu_headers,
        json={"annual_amount_eur": "20000.00", "version": need["version"]},
    )
    assert changed.status_code == 200, changed.get_json()
    assert waste()["total_amount_eur"] == "160000.00"
    withdrawn = client.patch(
        f"/api/v1/needs/{need['id']}",
        headers=chu_headers,
        json={"status": "withdrawn", "version": changed.get_json()["version"]},
    )
    assert withdrawn.status_code == 200, withdrawn.get_json()
    assert waste()["organizations"] == ["GDH", "UB"] and waste()["total_amount_eur"] == "140000.00"


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
