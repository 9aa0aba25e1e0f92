"""Open data: published calls and their OCDS package are public, bids never before the award; the DECP essential
data of awarded lots for buyers and coordinators. Every document is validated against its official schema."""

import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from app.calls import services
from app.calls.decp import decp_export
from app.calls.ocds import release_package
from app.calls.services import LotInput
from app.organizations.demo import fake_siret
from tests import factories
from tests.conftest import api_token
from tests.factories import CALLS_DEADLINE as DEADLINE
from tests.schemas import decp_errors, ocds_errors

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
LOTS = [
    LotInput("Électricité", "09310000-5", Decimal("600000.00")),
    LotInput("Gaz naturel", "09123000-7", Decimal("250000.00")),
]
SECRET_AMOUNTS = ("498765.43", "512345.67", "234567.89")


@pytest.fixture
def market(db, clock):
    """A constituted group of three members with SIRETs, a two-lot draft call (850,000 € excl. VAT in total), two
    suppliers, a buyer outside the group, an administrator."""
    rng = random.Random(2026)
    group, orgs, coordinator = factories.constituted_group()
    for org in orgs:
        org.siret = fake_siret(rng)
    coordinator.email = "coord@x.fr"
    factories.user("buyer", email="member@x.fr", organization_=orgs[1])
    factories.user("buyer", email="outsider@x.fr", organization_=factories.organization("OUT", siret=fake_siret(rng)))
    factories.user("admin", email="admin@x.fr")
    suppliers = {}
    for name, postcode in (("alpha", "21000"), ("beta", "71100")):
        company = factories.supplier_company(trades=("09000000",), postcode=postcode, name=f"Société {name}")
        suppliers[name] = factories.user("supplier", email=f"{name}@x.fr", supplier=company)
    call = factories.call(coordinator, group, lots=LOTS)
    db.session.commit()
    return SimpleNamespace(group=group, orgs=orgs, coordinator=coordinator, suppliers=suppliers, call=call)


def publish(db, market):
    services.publish_call(db.session, market.coordinator, market.call)
    db.session.commit()


def place_bids(db, market):
    """alpha bids on both lots (and replaces its first bid on lot 1), beta on lot 1 only."""
    electricity, gas = market.call.lots
    alpha, beta = market.suppliers["alpha"], market.suppliers["beta"]
    factories.bid(alpha, market.call, "520000.00", lot_id=electricity.id)
    factories.bid(alpha, market.call, SECRET_AMOUNTS[0], lot_id=electricity.id)  # replaces the first: one offer
    factories.bid(beta, market.call, SECRET_AMOUNTS[1], lot_id=electricity.id)
    factories.bid(alpha, market.call, SECRET_AMOUNTS[2], lot_id=gas.id)
    db.session.commit()


def award_all(db, market, clock):
    clock.move_to(DEADLINE + timedelta(hours=1))
    awards = factories.award_every_lot(market.coordinator, market.call)
    db.session.commit()
    return awards


def says_nothing_of_bids(text: str) -> bool:
    return (
        not any(amount in text for amount in SECRET_AMOUNTS)
        and "Société" not in text
        and "numberOfTenderers" not in text
        and '"bids"' not in text
        and "tenderer" not in text
    )


# --- public calls and OCDS ------------------------------------------------------------------------------------------


def test_a_draft_is_404_to_anonymous_visitors_and_to_buyers_outside_the_group(client, market):
    call_id = market.call.id
    for url in (f"/api/v1/calls/{call_id}", f"/api/v1/calls/{call_id}/ocds"):
        response = client.get(url)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found", url
        assert client.get(url, headers=api_token(client, "outsider@x.fr")).status_code == 404
        assert client.get(url, headers=api_token(client, "beta@x.fr")).status_code == 404
        assert client.get(url, headers=api_token(client, "coord@x.fr")).status_code == 200
    assert client.get(f"/calls/{call_id}").status_code == 404
    assert client.get("/api/v1/calls?status=draft").get_json()["items"] == []
    assert client.get("/api/v1/calls").get_json()["items"] == []
    assert "électricité 2027-2029" not in client.get("/calls?status=").get_data(as_text=True)


def test_a_published_call_its_documents_and_its_ocds_package_need_no_account(client, market, db, app, web_app):
    web_app.config["OCDS_OCID_PREFIX"] = "ocds-a1b2c3"  # the app serving the client
    publish(db, market)
    document = services.add_document(
        db.session, market.coordinator, market.call, "reglement.pdf", PDF, app.config["UPLOAD_FOLDER"]
    )
    asked = services.ask_question(db.session, market.suppliers["alpha"], market.call, "Quelle puissance souscrite ?")
    services.answer_question(db.session, market.coordinator, market.call, asked.id, "36 kVA par site.")
    services.ask_question(db.session, market.suppliers["beta"], market.call, "Question sans réponse encore ?")
    db.session.commit()
    call_id = market.call.id

    listed = client.get("/api/v1/calls?status=published")
    assert listed.status_code == 200 and [c["id"] for c in listed.get_json()["items"]] == [call_id]
    detail = client.get(f"/api/v1/calls/{call_id}")
    assert detail.status_code == 200 and detail.get_json()["title"] == market.call.title
    assert detail.get_json()["warnings"] == []

    response = client.get(f"/api/v1/calls/{call_id}/ocds")
    assert response.status_code == 200
    package = response.get_json()
    assert ocds_errors(package) == []
    release = package["releases"][0]
    assert release["ocid"] == f"ocds-a1b2c3-call-{call_id}"
    tender = release["tender"]
    assert tender["value"] == {"amount": 850000.0, "currency": "EUR"}  # the total estimated value of the lots
    assert [lot["value"]["amount"] for lot in tender["lots"]] == [600000.0, 250000.0]
    assert [e["answer"] for e in tender["enquiries"]] == ["36 kVA par site."] and tender["hasEnquiries"] is True
    assert "Question sans réponse" not in response.get_data(as_text=True)
    (published_document,) = tender["documents"]
    assert published_document["title"] == "reglement.pdf"
    for url in (published_document["url"].split("localhost", 1)[1], f"/calls/{call_id}/documents/{document.id}"):
        download = client.get(url)
        assert download.status_code == 200 and download.data == PDF, url
        download.close()
    assert says_nothing_of_bids(response.get_data(as_text=True))

    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "électricité 2027-2029" in page and f'href="/api/v1/calls/{call_id}/ocds"' in page
    assert 'id="decp-link"' not in page and "Submit a bid" not in page and "Soumettre" not in page
    assert "électricité 2027-2029" in client.get("/calls").get_data(as_text=True)
    assert 'href="/calls" id="public-calls"' in client.get("/").get_data(as_text=True)  # from the landing page


def test_parties_carry_their_siret_under_the_org_id_scheme_for_france(db, market):
    publish(db, market)
    package = release_package(db.session, market.call, uri="https://mutualis.example/api/v1/calls/1/ocds")
    parties = {p["id"]: p for p in package["releases"][0]["parties"]}
    coordinator = market.orgs[0]
    entry = parties[f"FR-RCS-{coordinator.siret}"]
    assert entry["identifier"] == {"scheme": "FR-RCS", "id": coordinator.siret, "legalName": coordinator.name}
    assert set(entry["roles"]) == {"buyer", "procuringEntity"}
    assert {f"FR-RCS-{org.siret}" for org in market.orgs} == set(parties)
    assert package["releases"][0]["buyer"]["id"] == f"FR-RCS-{coordinator.siret}"


def test_bid_details_never_appear_before_the_award_of_every_lot(client, market, db, clock):
    publish(db, market)
    place_bids(db, market)
    url = f"/api/v1/calls/{market.call.id}/ocds"

    def read(who: str | None) -> tuple[dict, str]:
        response = client.get(url, headers=api_token(client, who) if who else {})
        assert response.status_code == 200
        assert ocds_errors(response.get_json()) == []
        return response.get_json(), response.get_data(as_text=True)

    for moment in (None, DEADLINE, DEADLINE + timedelta(hours=1)):
        if moment:
            clock.move_to(moment)
        for who in (None, "coord@x.fr", "beta@x.fr"):
            package, text = read(who)
            assert says_nothing_of_bids(text), (moment, who)
            assert "awards" not in package["releases"][0]
    electricity, gas = market.call.lots
    scored = {"technical": 50, "environmental": 50}
    for placed in services.list_bids(db.session, market.coordinator, market.call):
        services.score_bid(db.session, market.coordinator, market.call, placed.id, scored)
    winner = services.ranking(db.session, market.coordinator, market.call)[electricity.id][0][1]
    services.award_lot(db.session, market.coordinator, market.call, electricity.id, winner.id)
    db.session.commit()

    package, text = read(None)  # one lot awarded, the other still under evaluation: its award, no bids yet
    release = package["releases"][0]
    assert [a["value"]["amount"] for a in release["awards"]] == [float(SECRET_AMOUNTS[0])]
    assert "bids" not in release and "numberOfTenderers" not in release["tender"]
    assert SECRET_AMOUNTS[1] not in text and SECRET_AMOUNTS[2] not in text

    gas_bid = services.ranking(db.session, market.coordinator, market.call)[gas.id][0][1]
    services.award_lot(db.session, market.coordinator, market.call, gas.id, gas_bid.id)
    db.session.commit()
    package, _text = read(None)
    release = package["releases"][0]
    assert sorted(b["value"]["amount"] for b in release["bids"]["details"]) == sorted(
        float(a) for a in SECRET_AMOUNTS
    )  # the replaced bid is not an offer received
    assert release["tender"]["numberOfTenderers"] == 2


def test_after_the_award_one_contract_per_member_with_its_share(client, market, db, clock):
    publish(db, market)
    place_bids(db, market)
    awards = award_all(db, market, clock)
    package = client.get(f"/api/v1/calls/{market.call.id}/ocds").get_json()
    assert ocds_errors(package) == []
    release = package["releases"][0]
    assert release["tag"] == ["award", "contract"] and release["tender"]["status"] == "complete"
    assert [a["id"] for a in release["awards"]] == [f"award-{a.id}" for a in awards]
    contracts = release["contracts"]
    assert len(contracts) == 6  # three members × two lots
    for award in release["awards"]:
        mine = [c for c in contracts if c["awardID"] == award["id"]]
        assert len(mine) == 3
        assert round(sum(c["value"]["amount"] for c in mine), 2) == award["value"]["amount"]
    # shares of the yearly needs 20,000 / 100,000 / 80,000: 10 %, 50 %, 40 %
    shares = sorted(c["description"].split(" : ")[1].split(" %")[0] for c in contracts[:3])
    assert shares == ["10.00", "40.00", "50.00"]
    chu = next(c for c in contracts if c["title"] == f"Électricité — {market.orgs[1].name}")
    assert abs(Decimal(str(chu["value"]["amount"])) - Decimal(SECRET_AMOUNTS[0]) / 2) <= Decimal("0.01")
    roles = {p["name"]: set(p["roles"]) for p in release["parties"]}
    assert roles["Société alpha"] == {"tenderer", "supplier"} and roles["Société beta"] == {"tenderer"}


@pytest.mark.parametrize(
    ("amount", "details"),
    [
        ("30000.00", "R2122-8"),  # below the 60,000 € threshold in force since 1 April 2026
        ("100000.00", "MAPA"),
        ("850000.00", "Appel d'offres ouvert"),  # above the 216,000 € European threshold of 2026
    ],
)
def test_the_procurement_method_is_the_procedure_of_the_call(session, market, amount, details):
    call = factories.call(
        market.coordinator, market.group, lots=[LotInput("Électricité", "09310000", Decimal(amount))], publish=True
    )
    tender = release_package(session, call, uri="https://x/ocds")["releases"][0]["tender"]
    assert tender["procurementMethod"] == "open" and details in tender["procurementMethodDetails"]


@pytest.mark.parametrize(
    ("published_at", "planned", "details", "decp_procedure"),
    [
        # 23:30 in Paris on 31 December 2025: the 221,000 € European threshold of 2024-2025 is in force
        (datetime(2025, 12, 31, 22, 30, tzinfo=UTC), date(2026, 2, 1), "MAPA", "Procédure adaptée"),
        # 00:30 in Paris on 1 January 2026: the 216,000 € threshold of 2026-2027 is
        (datetime(2025, 12, 31, 23, 30, tzinfo=UTC), date(2025, 12, 1), *["Appel d'offres ouvert"] * 2),
    ],
)
def test_a_published_call_follows_the_thresholds_of_the_paris_day_it_was_published_not_the_planned_one(
    db, market, clock, published_at, planned, details, decp_procedure
):
    market.group.planned_publication_on = planned  # the group's plan says the other side of the change
    call = factories.call(
        market.coordinator, market.group, lots=[LotInput("Électricité", "09310000", Decimal("218000.00"))], publish=True
    )
    call.published_at = published_at
    db.session.commit()
    tender = release_package(db.session, call, uri="https://x/ocds")["releases"][0]["tender"]
    assert details in tender["procurementMethodDetails"]
    factories.bid(market.suppliers["alpha"], call, "210000.00", lot_id=call.lots[0].id)
    clock.move_to(DEADLINE + timedelta(hours=1))
    factories.award_every_lot(market.coordinator, call)
    db.session.commit()
    document = decp_export(db.session, market.coordinator, call_id=call.id).document
    assert decp_errors(document) == []
    assert [m["procedure"] for m in document["marches"]["marche"]] == [decp_procedure]


# --- DECP -----------------------------------------------------------------------------------------------------------


def test_decp_has_one_valid_marche_per_awarded_lot(client, market, db, clock):
    publish(db, market)
    place_bids(db, market)
    awards = award_all(db, market, clock)
    response = client.get("/api/v1/decp?year=2026", headers=api_token(client, "coord@x.fr"))
    assert response.status_code == 200 and response.headers["X-Omitted-Lots"] == "0"
    document = response.get_json()
    assert decp_errors(document) == []
    electricity, gas = document["marches"]["marche"]
    coordinator_siret = market.orgs[0].siret
    alpha_siret = market.suppliers["alpha"].supplier.siret
    assert [m["id"] for m in (electricity, gas)] == [str(a.id) for a in awards]
    assert electricity["acheteur"] == {"id": coordinator_siret} and gas["acheteur"] == {"id": coordinator_siret}
    assert electricity["montant"] == float(SECRET_AMOUNTS[0]) and gas["montant"] == float(SECRET_AMOUNTS[2])
    assert electricity["titulaires"] == [{"titulaire": {"typeIdentifiant": "SIRET", "id": alpha_siret}}]
    assert electricity["offresRecues"] == 2 and gas["offresRecues"] == 1  # a replaced bid is not another offer
    assert electricity["codeCPV"] == "09310000" and gas["codeCPV"] == "09123000"
    assert electricity["procedure"] == "Appel d'offres ouvert" and electricity["ccag"].startswith("Fournitures")
    assert electricity["dureeMois"] == 36 and electricity["dateNotification"] == "2026-12-10"
    assert electricity["lieuExecution"] == {"code": "21000", "typeCode": "Code postal"}
    assert electricity["considerationsEnvironnementales"] == {
        "considerationEnvironnementale": ["Critère environnemental"]
    }
    assert "Électricité" in electricity["objet"]
    empty = client.get("/api/v1/decp?year=2025", headers=api_token(client, "coord@x.fr")).get_json()
    assert empty == {"marches": {"marche": []}} and decp_errors(empty) == []


def test_decp_of_a_social_services_lot_refers_to_the_supplies_and_services_ccag(client, market, db, clock):
    """A lot of social and other specific services (Annex XIV: health services, 85100000) has its own procedure
    nature; its DECP entry still names a CCAG of the schema (no error)."""
    market.call.lots[1].cpv_code = "85100000"
    db.session.commit()
    publish(db, market)
    place_bids(db, market)
    award_all(db, market, clock)
    response = client.get("/api/v1/decp?year=2026", headers=api_token(client, "coord@x.fr"))
    assert response.status_code == 200, response.get_data(as_text=True)
    document = response.get_json()
    assert decp_errors(document) == []
    health = document["marches"]["marche"][1]
    assert (health["codeCPV"], health["ccag"]) == ("85100000", "Fournitures courantes et services")


def test_decp_duration_and_the_ocds_contract_period_include_the_renewals(client, market, db, clock):
    # the needs (36 months from 1 September 2027): one renewable once (72 months in force), one twice for 12 months
    # (60 months), one not renewable (36 months); the longest in force is what the contracts may last
    needs = {gn.organization_id: gn.need for gn in market.group.group_needs}
    needs[market.orgs[0].id].renewal_count = 1
    needs[market.orgs[1].id].renewal_count, needs[market.orgs[1].id].renewal_months = 2, 12
    db.session.commit()
    publish(db, market)
    place_bids(db, market)
    award_all(db, market, clock)
    document = client.get("/api/v1/decp?year=2026", headers=api_token(client, "coord@x.fr")).get_json()
    assert decp_errors(document) == []
    assert {m["dureeMois"] for m in document["marches"]["marche"]} == {72}
    package = client.get(f"/api/v1/calls/{market.call.id}/ocds").get_json()
    assert ocds_errors(package) == []
    periods = [c["period"] for c in package["releases"][0]["contracts"]]
    assert len(periods) == 6 and all(
        period
        == {
            "startDate": "2027-09-01T00:00:00+02:00",
            "endDate": "2030-08-31T23:59:59+02:00",  # the initial 36 months
            "maxExtentDate": "2033-08-31T23:59:59+02:00",  # every renewal taken: 72 months
        }
        for period in periods
    )


def test_decp_is_for_buyers_of_their_organization_and_for_coordinators(client, market, db, clock):
    publish(db, market)
    place_bids(db, market)
    award_all(db, market, clock)

    def count(who: str, query: str = "") -> int:
        response = client.get(f"/api/v1/decp?year=2026{query}", headers=api_token(client, who))
        assert response.status_code == 200, response.get_json()
        return len(response.get_json()["marches"]["marche"])

    assert count("coord@x.fr") == 2 and count("admin@x.fr") == 2
    assert count("member@x.fr") == 2 and count("member@x.fr", "&organization=chu") == 2
    assert count("outsider@x.fr") == 0  # its organization holds none of these contracts
    assert count("coord@x.fr", "&organization=UB") == 2 and count("coord@x.fr", "&organization=OUT") == 0
    member = api_token(client, "member@x.fr")
    refused = client.get("/api/v1/decp?year=2026&organization=DM", headers=member)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/decp?year=2026", headers=api_token(client, "alpha@x.fr")).status_code == 403
    assert client.get("/api/v1/decp?year=2026").status_code == 401
    coordinator = api_token(client, "coord@x.fr")
    for query, field in (
        ("", "year"),
        ("?year=abc", "year"),
        ("?year=1800", "year"),
        ("?year=2026&organization=NOPE", "organization"),
    ):
        response = client.get(f"/api/v1/decp{query}", headers=coordinator)
        assert response.status_code == 400, query
        assert field in response.get_json()["error"]["details"]["fields"], query


def test_a_coordinator_without_siret_cannot_publish_decp_and_is_told(client, market, db, clock):
    publish(db, market)
    place_bids(db, market)
    award_all(db, market, clock)
    market.orgs[0].siret = None
    db.session.commit()
    response = client.get("/api/v1/decp?year=2026", headers=api_token(client, "coord@x.fr"))
    assert response.get_json() == {"marches": {"marche": []}} and response.headers["X-Omitted-Lots"] == "2"


def test_the_call_and_spend_pages_offer_the_decp_file_to_those_allowed(client, new_client, market, db, clock):
    from tests.conftest import login

    publish(db, market)
    place_bids(db, market)
    award_all(db, market, clock)
    login(client, "coord@x.fr")
    page = client.get(f"/calls/{market.call.id}").get_data(as_text=True)
    assert f'href="/open-data/decp.json?call={market.call.id}"' in page
    download = client.get(f"/open-data/decp.json?call={market.call.id}")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f'attachment; filename="decp-call-{market.call.id}.json"'
    document = json.loads(download.data)
    assert decp_errors(document) == [] and len(document["marches"]["marche"]) == 2
    assert client.get("/open-data/decp.json?year=20x6").status_code == 400
    assert 'id="decp-link"' in client.get("/spend?year=2026").get_data(as_text=True)
    anonymous = new_client()
    refused = anonymous.get(f"/open-data/decp.json?call={market.call.id}")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    assert 'id="decp-link"' not in anonymous.get(f"/calls/{market.call.id}").get_data(as_text=True)
    supplier = new_client()
    login(supplier, "beta@x.fr")
    assert supplier.get(f"/open-data/decp.json?call={market.call.id}").status_code == 403
    assert 'id="decp-link"' not in supplier.get(f"/calls/{market.call.id}").get_data(as_text=True)


def test_the_decp_export_query_count_does_not_grow_with_the_awards(market, db, clock, query_counter):
    from app.calls.decp import decp_export

    publish(db, market)
    place_bids(db, market)
    second = factories.call(market.coordinator, market.group, title="Gaz 2028", lots=LOTS, publish=True)
    for lot in second.lots:
        for name, amount in (("alpha", "200000.00"), ("beta", "210000.00")):
            factories.bid(market.suppliers[name], second, amount, lot_id=lot.id)
    db.session.commit()
    award_all(db, market, clock)
    db.session.expire_all()
    with query_counter() as one_call:
        small = decp_export(db.session, market.coordinator, year=2026)
    factories.award_every_lot(market.coordinator, second)
    db.session.commit()
    db.session.expire_all()
    with query_counter() as two_calls:
        large = decp_export(db.session, market.coordinator, year=2026)
    assert len(small.document["marches"]["marche"]) == 2 and len(large.document["marches"]["marche"]) == 4
    assert decp_errors(large.document) == []
    assert two_calls.value == one_call.value


def test_the_schema_checks_catch_what_they_are_for():
    """The validators are not vacuous: the official DECP example passes; the same record without its buyer, or with a
    buyer id that is not a SIRET, fails; an OCDS package without its publisher fails."""
    from tests.schemas import DATA

    example = json.loads((DATA / "decp-2.0.3" / "exemple_marches_avec_modifications.json").read_text(encoding="utf-8"))
    assert decp_errors(example) == []
    record = example["marches"]["marche"][0]
    assert decp_errors({"marches": {"marche": [{k: v for k, v in record.items() if k != "acheteur"}]}})
    assert decp_errors({"marches": {"marche": [{**record, "acheteur": {"id": "2121023130001"}}]}})
    package = {"uri": "https://x/ocds", "version": "1.1", "publishedDate": "2026-12-10T11:00:00+00:00", "releases": []}
    assert any("publisher" in message for message in ocds_errors(package))


@pytest.mark.parametrize(
    ("published_at", "planned", "warned"),
    [
        # 23:30 in Paris on 31 December 2025: an adapted procedure (15 days), the 20-day bid period is enough
        (datetime(2025, 12, 31, 22, 30, tzinfo=UTC), date(2026, 2, 1), False),
        # 00:30 in Paris on 1 January 2026: an open call for tenders (35 days), 20 days get a warning
        (datetime(2025, 12, 31, 23, 30, tzinfo=UTC), date(2025, 12, 1), True),
    ],
)
def test_the_api_warns_the_coordinator_under_the_procedure_of_the_published_call_as_its_page_does(
    db, client, market, published_at, planned, warned
):
    market.group.planned_publication_on = planned
    call = factories.call(
        market.coordinator, market.group, lots=[LotInput("Électricité", "09310000", Decimal("218000.00"))], publish=True
    )
    call.published_at, call.questions_deadline = published_at, published_at + timedelta(days=10)
    call.bid_deadline = published_at + timedelta(days=20)
    db.session.commit()
    warnings = client.get(f"/api/v1/calls/{call.id}", headers=api_token(client, "coord@x.fr")).get_json()["warnings"]
    assert len(warnings) == warned and all("35" in w for w in warnings)


@pytest.mark.parametrize("query", ["call=²", "year=²⁰²⁶", "call=99999999999999999999", "year=-2026", "call=1.5"])
def test_a_decp_download_with_an_unreadable_number_is_a_400_naming_the_argument(client, market, query):
    from tests.conftest import login

    login(client, "coord@x.fr")
    response = client.get(f"/open-data/decp.json?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.get_data(as_text=True)
