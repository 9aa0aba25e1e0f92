import io
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.spend.models import SpendBlock, SpendQuarantine
from tests import factories
from tests.conftest import api_token
from tests.factories import DECP_SAMPLE as DECP

LEDGER = factories.LEDGER_HEADER + "01/02/2025;Papeterie;;30192000;1 000,50;Papier;21000\n"


@pytest.fixture
def people(db):
    dm, chu = factories.organization("DM"), factories.organization("CHU")
    for email, role, org in [
        ("dm@x.fr", "buyer", dm),
        ("chu@x.fr", "buyer", chu),
        ("coord@x.fr", "coordinator", None),
        ("admin@x.fr", "admin", None),
        ("sup@x.fr", "supplier", None),
    ]:
        factories.user(role, email=email, organization_=org)
    db.session.commit()
    return {"dm": dm, "chu": chu}


def upload(client, headers, data: bytes, name="spend.csv", **form):
    return client.post(
        "/api/v1/spend/import",
        data={"file": (io.BytesIO(data), name), **form},
        headers=headers,
        content_type="multipart/form-data",
    )


def test_a_coordinator_imports_decp_records_for_the_metropole(client, people, db):
    response = upload(client, api_token(client, "coord@x.fr"), DECP.read_bytes(), DECP.name, organization="DM")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["imported"] == 272 and isinstance(body["import_id"], int) and body["skipped"] == 0
    assert body["quarantined"] == 0
    assert any("plusieurs fournisseurs" in note for note in body["notes"])  # French by default
    owners = set(db.session.scalars(sa.select(SpendBlock.organization_id).distinct()))
    assert owners == {people["dm"].id}


def test_the_same_file_again_is_409_duplicate_import(client, people):
    headers = api_token(client, "dm@x.fr")
    assert upload(client, headers, LEDGER.encode()).status_code == 201
    again = upload(client, headers, LEDGER.encode(), "other-name.csv")
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["code"] == "duplicate_import" and error["details"]["import_id"]


def test_a_bad_file_is_400_with_every_row_and_nothing_imported(client, people, db):
    bad = LEDGER + "31/02/2025;X;;99999999;-4;;\n"
    response = upload(client, api_token(client, "dm@x.fr"), bad.encode())
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert {(r["row"], r["column"]) for r in error["details"]["rows"]} == {
        (3, "spend_date"),
        (3, "cpv_code"),
        (3, "amount_eur"),
    }
    assert factories.stored_line_count() == 0


def test_an_explicit_format_and_the_organization_rules(client, people):
    coord = api_token(client, "coord@x.fr")
    missing = upload(client, coord, LEDGER.encode())
    assert missing.status_code == 400 and "organization" in missing.get_json()["error"]["details"]["fields"]
    wrong = upload(client, coord, LEDGER.encode(), format="decp", organization="DM")
    assert wrong.status_code == 400  # a ledger read as DECP lacks the DECP fields
    bad_format = upload(client, coord, LEDGER.encode(), format="pdf", organization="DM")
    assert bad_format.status_code == 400 and "format" in bad_format.get_json()["error"]["details"]["fields"]
    other = upload(client, api_token(client, "chu@x.fr"), LEDGER.encode(), organization="DM")
    assert other.status_code == 403
    assert upload(client, api_token(client, "sup@x.fr"), LEDGER.encode()).status_code == 403


def test_the_cube_per_role(client, people):
    upload(client, api_token(client, "dm@x.fr"), LEDGER.encode())
    upload(client, api_token(client, "chu@x.fr"), LEDGER.replace("1 000,50", "99,00").encode())
    dm_items = client.get("/api/v1/spend/cube", headers=api_token(client, "dm@x.fr")).get_json()["items"]
    assert dm_items == [
        {
            "cpv_prefix": "30",
            "label": dm_items[0]["label"],
            "organization": "DM",
            "year": 2025,
            "amount_eur": "1000.50",
            "lines": 1,
            "suppliers": 1,
        }
    ]
    coord = api_token(client, "coord@x.fr")
    body = client.get("/api/v1/spend/cube?level=category&year=2025", headers=coord).get_json()
    assert {(i["organization"], i["cpv_prefix"], i["amount_eur"]) for i in body["items"]} == {
        ("DM", "30192", "1000.50"),
        ("CHU", "30192", "99.00"),
    }
    assert body["next"] is None
    only = client.get("/api/v1/spend/cube?organization=CHU", headers=coord).get_json()["items"]
    assert {i["organization"] for i in only} == {"CHU"}
    assert client.get("/api/v1/spend/cube?organization=CHU", headers=api_token(client, "dm@x.fr")).status_code == 403
    assert client.get("/api/v1/spend/cube", headers=api_token(client, "sup@x.fr")).status_code == 403
    bad = client.get("/api/v1/spend/cube?level=subcategory", headers=coord)
    assert bad.status_code == 400 and "level" in bad.get_json()["error"]["details"]["fields"]


def test_impact_endpoints(client, people):
    upload(client, api_token(client, "dm@x.fr"), LEDGER.encode())
    upload(client, api_token(client, "chu@x.fr"), LEDGER.replace("21000", "75008").encode())
    coord = api_token(client, "coord@x.fr")
    local = client.get("/api/v1/spend/local-share", headers=coord).get_json()
    buckets = {b["bucket"]: b for b in local["overall"]["buckets"]}
    assert buckets["metropole"]["amount_eur"] == "1000.50" and buckets["elsewhere"]["amount_eur"] == "1000.50"
    assert buckets["metropole"]["share"] == "0.5000" and local["definition"]
    assert [o["organization"] for o in local["organizations"]] == ["CHU", "DM"]

    carbon = client.get("/api/v1/spend/carbon", headers={**coord, "Accept-Language": "en"}).get_json()
    assert carbon["total_kgco2e"] == "800"  # 2.001 k€ × 400 kg/k€ = 800.4
    assert carbon["lines"][0]["category"] == "electrical_and_optical_it_and_office_equipment"
    assert "not a measured" in carbon["caveat"] and carbon["source"]

    pooling = client.get("/api/v1/spend/pooling?level=division", headers=coord).get_json()
    assert pooling["pooling_potential_eur"] == "2001.00"
    item = pooling["items"][0]
    assert item["organizations"] == ["CHU", "DM"] and item["savings_low_eur"] == "100.05"

    savings = client.get("/api/v1/spend/savings/overlaps", headers=coord).get_json()
    assert savings["items"] == [] and savings["source"]
    for path in ("local-share", "carbon", "pooling", "savings/overlaps", "imports"):
        assert client.get(f"/api/v1/spend/{path}", headers=api_token(client, "sup@x.fr")).status_code == 403


def test_rollback_by_api_is_for_admins(client, people):
    import_id = upload(client, api_token(client, "dm@x.fr"), LEDGER.encode()).get_json()["import_id"]
    assert (
        client.post(f"/api/v1/spend/imports/{import_id}/rollback", headers=api_token(client, "coord@x.fr")).status_code
        == 403
    )
    admin = api_token(client, "admin@x.fr")
    done = client.post(f"/api/v1/spend/imports/{import_id}/rollback", headers=admin)
    assert done.status_code == 200 and done.get_json()["rolled_back_at"]
    again = client.post(f"/api/v1/spend/imports/{import_id}/rollback", headers=admin)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_rolled_back"
    listed = client.get("/api/v1/spend/imports", headers=admin).get_json()["items"]
    assert listed[0]["id"] == import_id and listed[0]["lines"] == 1
    assert upload(client, api_token(client, "dm@x.fr"), LEDGER.encode()).status_code == 201


def test_a_decp_import_answers_its_counts_and_lists_its_quarantine_to_those_who_see_the_import(client, db):
    # DM holds the SIRET of the buyer of these records.
    dm = factories.organization("DM", siret=factories.DECP_SAMPLE_BUYER)
    factories.user("buyer", email="dm@x.fr", organization_=dm)
    factories.user("buyer", email="chu@x.fr", organization_=factories.organization("CHU"))
    factories.user("coordinator", email="coord@x.fr")
    factories.user("admin", email="admin@x.fr")
    db.session.commit()
    data = (factories.DECP_FILES / "decp_2_0.json").read_bytes()
    response = upload(client, api_token(client, "dm@x.fr"), data, "decp_2_0.json", format="decp")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["imported"], body["skipped"], body["quarantined"]) == (2, 0, 1)
    import_id = body["import_id"]

    listed = client.get(f"/api/v1/spend/imports/{import_id}/quarantine", headers=api_token(client, "dm@x.fr"))
    assert listed.status_code == 200
    page = listed.get_json()
    assert (page["imported"], page["quarantined"]) == (2, 1)
    assert page["items"] == [
        {
            "row": 4,
            "field": "acheteur_id",
            "reason": "Autre acheteur : cet enregistrement nomme l’acheteur 24210041000010, et non le SIRET de "
            "l’organisation 21210231300013.",
            "source_ref": "2024MET003",
            "buyer": "24210041000010",
            "amount": "70000",
        }
    ]
    assert (
        client.get(f"/api/v1/spend/imports/{import_id}/quarantine", headers=api_token(client, "coord@x.fr")).status_code
        == 200
    )
    other = client.get(f"/api/v1/spend/imports/{import_id}/quarantine", headers=api_token(client, "chu@x.fr"))
    assert other.status_code == 404
    assert client.get("/api/v1/spend/imports/1/quarantine", headers=api_token(client, "admin@x.fr")).status_code == 404
    items = client.get("/api/v1/spend/imports", headers=api_token(client, "dm@x.fr")).get_json()["items"]
    assert items[0]["quarantined"] == 1

    # Rolling the import back removes its quarantine too.
    assert (
        client.post(f"/api/v1/spend/imports/{import_id}/rollback", headers=api_token(client, "admin@x.fr")).status_code
        == 200
    )
    after = client.get(f"/api/v1/spend/imports/{import_id}/quarantine", headers=api_token(client, "dm@x.fr")).get_json()
    assert after["items"] == [] and db.session.scalar(sa.select(sa.func.count(SpendQuarantine.id))) == 0


def test_a_buyer_importing_another_buyers_decp_file_is_refused_naming_the_buyer(client, people, db):
    response = upload(client, api_token(client, "dm@x.fr"), DECP.read_bytes(), DECP.name)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "272" in str(error) and "21210231300013" in str(error)
    assert factories.stored_line_count() == 0
    assert db.session.scalar(sa.select(sa.func.count(SpendQuarantine.id))) == 0


def test_the_openapi_document_describes_the_spend_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/api/v1/spend/import",
        "/api/v1/spend/cube",
        "/api/v1/spend/imports",
        "/api/v1/spend/local-share",
        "/api/v1/spend/carbon",
        "/api/v1/spend/pooling",
        "/api/v1/spend/savings/overlaps",
    ):
        assert path in spec["paths"], path
    responses = spec["paths"]["/api/v1/spend/import"]["post"]["responses"]
    assert {"201", "400", "409"} <= set(responses)
    content = spec["paths"]["/api/v1/spend/import"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in content


def test_the_pooling_list_and_the_cube_are_paginated(client, db):
    orgs = [factories.organization(code) for code in ("DM", "CHU", "UB")]
    factories.bulk_spend_cells(
        orgs, 600, cpvs=tuple(f"{n:05d}" for n in range(3000, 3605, 5))
    )  # 121: not a multiple of 3
    factories.user("coordinator", email="pool@x.fr", organization_=orgs[0])
    db.session.commit()
    headers = api_token(client, "pool@x.fr")
    pooling = client.get("/api/v1/spend/pooling?level=category&per_page=40", headers=headers).get_json()
    assert len(pooling["items"]) == 40 and pooling["next"].endswith("page=2&per_page=40")
    everything, page = list(pooling["items"]), pooling
    while page["next"]:
        page = client.get(page["next"], headers=headers).get_json()
        everything += page["items"]
    assert len({i["cpv_prefix"] for i in everything}) == 121 == len(everything)
    assert sum(Decimal(i["amount_eur"]) for i in everything) == Decimal(pooling["pooling_potential_eur"])
    cube = client.get("/api/v1/spend/cube?level=category&per_page=200", headers=headers).get_json()
    assert len(cube["items"]) == 200 and cube["next"].endswith("page=2&per_page=200")
    keys = [(i["cpv_prefix"], i["organization"], i["year"]) for i in cube["items"]]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("path", "reads"),
    [
        ("/api/v1/spend/pooling?level=division", 2),  # the years in scope, then one GROUP BY for the whole page
        ("/api/v1/spend/pooling?level=category&per_page=3&page=2", 2),
        ("/api/v1/spend/pooling?level=class&year=2024", 2),
        ("/api/v1/spend/pooling?level=group&page=9", 2),  # past the last page: the totals from the same sums
        ("/api/v1/spend/local-share", 1),
        ("/api/v1/spend/local-share?year=2025", 1),
    ],
)
def test_the_pooling_and_local_share_apis_read_the_cells_once(client, db, query_counter, path, reads):
    """Computed again (as after a change of the spend), a page reads the cells in one statement."""
    orgs = [factories.organization(code) for code in ("DM", "CHU", "UB")]
    factories.bulk_spend_cells(orgs, 300, cpvs=("09310", "09320", "90911", "45210", "30192"))
    factories.user("coordinator", email="pool@x.fr", organization_=orgs[0])
    db.session.commit()
    headers = api_token(client, "pool@x.fr")
    with query_counter() as count:
        response = client.get(path, headers=headers)
    body = response.get_json()
    assert response.status_code == 200 and (body.get("items") or body.get("overall") or "page=9" in path)
    assert body.get("pooling_potential_eur", "1") != "0.00"
    cells_read = [statement for statement in count.statements if "spend_cell" in statement]
    assert len(cells_read) == reads, cells_read


def test_the_quarantine_is_listed_a_page_at_a_time_in_file_order(client, people):
    coord = api_token(client, "coord@x.fr")
    data = (factories.DECP_FILES / "decp_1x.json").read_bytes()
    body = upload(client, coord, data, "decp_1x.json", organization="CHU").get_json()
    assert (body["imported"], body["quarantined"]) == (2, 4)
    first = client.get(f"/api/v1/spend/imports/{body['import_id']}/quarantine?per_page=3", headers=coord).get_json()
    assert [item["row"] for item in first["items"]] == [4, 5, 6] and first["next"]
    second = client.get(first["next"], headers=coord).get_json()
    assert [(item["row"], item["source_ref"]) for item in second["items"]] == [(7, "20190014")]
    assert second["next"] is None
