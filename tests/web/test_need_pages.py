"""The procurement-need pages: who sees what, recording and editing, status changes, lists and spreadsheet import."""

from __future__ import annotations

import html
import io
import re
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.domain.need_import import parse_needs
from app.needs import services
from app.needs.models import Need
from app.reference.models import CpvCode
from tests import factories
from tests.conftest import csrf_from, english, post_form

# --- set-up ----------------------------------------------------------------------------------------------------


@pytest.fixture
def world(db):
    chu = factories.organization("CHU", name="CHU Dijon Bourgogne")
    ub = factories.organization("UB", name="Université de Bourgogne")
    people = SimpleNamespace(
        chu=chu,
        ub=ub,
        buyer=factories.user("buyer", email="anne@chu.example.fr", organization_=chu),
        other_buyer=factories.user("buyer", email="paul@ub.example.fr", organization_=ub),
        coordinator=factories.user("coordinator", email="coord@dm.example.fr"),
        admin=factories.user("admin", email="admin@example.fr"),
        supplier=factories.user("supplier", email="sales@clean.example.fr"),
    )
    db.session.commit()
    return people


# A need as these pages show it: 12,000 € HT a year for 24 months from January 2027, no delivery postcode.
make_need = partial(
    factories.need,
    title="Électricité des bâtiments",
    annual="12000.00",
    start=date(2027, 1, 1),
    months=24,
    postcode=None,
)


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def listed_titles(response) -> list[str]:
    return re.findall(r'class="need-title"><a href="[^"]+">([^<]+)</a>', page(response))


def need_form(**overrides) -> dict:
    data = {
        "title": "Électricité verte — hôpital",
        "cpv_code": "09310000",
        "description": "Fourniture d'électricité d'origine renouvelable",
        "annual_amount": "150000.00",
        "start_date": "2027-01-01",
        "duration_months": "36",
        "quantity": "",
        "unit": "",
        "current_contract_end": "2026-12-31",
        "delivery_postcode": "21000",
        "environmental_criterion": "y",
        "sustainability_notes": "Garanties d'origine",
        "submit": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def count_needs(db) -> int:
    return db.session.scalar(sa.select(sa.func.count(Need.id)))


def fresh(db, need_id: int) -> Need | None:
    db.session.expire_all()
    return db.session.get(Need, need_id)


# --- who sees what ---------------------------------------------------------------------------------------------


def test_buyer_lists_every_need_of_the_organization_drafts_included_and_nothing_else(client, db, world):
    make_need(world.chu, title="CHU draft", status="draft")
    make_need(world.chu, title="CHU submitted")
    make_need(world.ub, title="UB submitted")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    response = client.get("/needs")
    assert response.status_code == 200
    assert sorted(listed_titles(response)) == ["CHU draft", "CHU submitted"]
    text = page(response)
    assert "Record a need" in text and "Import needs" in text
    assert 'name="organization"' not in text  # the organization filter is for coordinators


@pytest.mark.parametrize("email", ["coord@dm.example.fr", "admin@example.fr"])
def test_coordinators_and_admins_list_submitted_needs_of_all_organizations_without_drafts(client, db, world, email):
    make_need(world.chu, title="CHU draft", status="draft")
    make_need(world.chu, title="CHU submitted")
    make_need(world.ub, title="UB withdrawn", status="withdrawn")
    db.session.commit()
    english(client, email)
    response = client.get("/needs")
    assert sorted(listed_titles(response)) == ["CHU submitted", "UB withdrawn"]
    text = page(response)
    assert 'name="organization"' in text and "Record a need" not in text


def test_list_shows_organization_cpv_amounts_dates_duration_and_status(client, db, world):
    make_need(world.chu, title="Électricité", annual="12000.00", months=18, start=date(2027, 3, 1))
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = page(client.get("/needs"))
    assert ">CHU</abbr>" in text and "CHU Dijon Bourgogne" in text
    assert "09310000" in text and "Electricity" in text
    assert '<td class="amount">€12,000.00</td>' in text
    assert '<td class="amount">€18,000.00</td>' in text  # 12,000 a year for 18 months
    assert "Mar 1, 2027" in text and "18 months" in text
    assert "Submitted</span>" in text


def test_supplier_is_refused_every_need_page(client, db, world):
    need = make_need(world.chu)
    db.session.commit()
    english(client, "sales@clean.example.fr")
    for url in ("/needs", f"/needs/{need.id}", "/needs/new", f"/needs/{need.id}/edit", "/needs/import"):
        assert client.get(url).status_code == 403, url


def test_anonymous_visitor_is_sent_to_the_login_page(client, db, world):
    need = make_need(world.chu)
    db.session.commit()
    for url in ("/needs", f"/needs/{need.id}", "/needs/new", f"/needs/{need.id}/edit", "/needs/import"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_buyer_of_another_organization_gets_not_found_and_changes_nothing(client, db, world):
    need = make_need(world.chu, status="submitted")
    db.session.commit()
    english(client, "paul@ub.example.fr")
    assert client.get(f"/needs/{need.id}").status_code == 404
    assert client.get(f"/needs/{need.id}/edit").status_code == 404
    token = csrf_from(client.get("/needs").get_data(as_text=True))
    assert client.post(f"/needs/{need.id}/edit", data={**need_form(), "csrf_token": token}).status_code == 404
    assert client.post(f"/needs/{need.id}/status", data={"status": "withdrawn", "csrf_token": token}).status_code == 404
    assert client.post(f"/needs/{need.id}/delete", data={"csrf_token": token}).status_code == 404
    kept = fresh(db, need.id)
    assert kept is not None and kept.status == "submitted" and kept.title == "Électricité des bâtiments"


def test_coordinator_reads_a_submitted_need_without_actions_and_never_sees_drafts(client, db, world):
    submitted = make_need(world.chu, title="Submitted one", description="Three sites")
    draft = make_need(world.chu, title="Draft one", status="draft")
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = page(client.get(f"/needs/{submitted.id}"))
    assert "Submitted one" in text and "Three sites" in text and "09310000-5" in text
    assert "Edit</a>" not in text and "Withdraw" not in text and "Delete" not in text
    assert client.get(f"/needs/{draft.id}").status_code == 404
    assert client.get(f"/needs/{submitted.id}/edit").status_code == 403
    token = csrf_from(text)
    assert (
        client.post(f"/needs/{submitted.id}/status", data={"status": "withdrawn", "csrf_token": token}).status_code
        == 403
    )
    assert client.post(f"/needs/{submitted.id}/delete", data={"csrf_token": token}).status_code == 403
    assert fresh(db, submitted.id).status == "submitted"


def test_unknown_need_is_not_found(client, db, world):
    english(client, "anne@chu.example.fr")
    assert client.get("/needs/999999").status_code == 404


# --- recording -------------------------------------------------------------------------------------------------


def test_buyer_records_and_submits_a_need_for_the_organization(client, db, world):
    english(client, "anne@chu.example.fr")
    form = page(client.get("/needs/new"))
    assert "Save as draft" in form and "Submit" in form and "data-cpv-picker" in form
    assert form.count('name="cpv_code"') == 1  # one hidden field, the picker's
    response = post_form(client, "/needs/new", need_form())
    assert response.status_code == 302
    need = db.session.scalar(sa.select(Need))
    assert response.headers["Location"] == f"/needs/{need.id}"
    assert need.organization_id == world.chu.id and need.created_by_id == world.buyer.id
    assert need.status == "submitted" and need.submitted_at is not None
    assert need.annual_amount == Decimal("150000.00") and isinstance(need.annual_amount, Decimal)
    assert need.start_date == date(2027, 1, 1) and need.duration_months == 36
    assert need.environmental_criterion and not need.social_clause and not need.short_supply_chain
    assert need.current_contract_end == date(2026, 12, 31) and need.delivery_postcode == "21000"
    detail = page(client.get(response.headers["Location"]))
    assert "Need recorded and submitted to the purchasing coordinators." in detail
    assert "€150,000.00" in detail and "€450,000.00" in detail  # yearly, and over 36 months


def test_the_form_records_renewals_and_options_and_the_page_shows_the_total(client, db, world):
    english(client, "anne@chu.example.fr")
    form = page(client.get("/needs/new"))
    assert "Number of renewals" in form and "Options, total excl. VAT (€)" in form
    response = post_form(
        client,
        "/needs/new",
        need_form(duration_months="12", renewal_count="3", renewal_months="", options_amount="2 500,00"),
    )
    assert response.status_code == 302
    need = db.session.scalar(sa.select(Need))
    assert (need.renewal_count, need.renewal_months, need.options_amount) == (3, None, Decimal("2500.00"))
    detail = page(client.get(response.headers["Location"]))
    # 150 000 × (12 + 3 × 12) / 12 + 2 500 = 602 500
    assert "Total estimated value excl. VAT" in detail and "€602,500.00" in detail
    assert "renewable 3 times" in detail and "€2,500.00" in detail
    refused = page(post_form(client, "/needs/new", need_form(renewal_count="12")))
    assert "The number of renewals is a whole number from 0 to 10." in refused


def test_save_as_draft_keeps_the_need_to_the_organization(client, db, world):
    english(client, "anne@chu.example.fr")
    response = post_form(client, "/needs/new", need_form(submit=None, save_draft="y"))
    assert response.status_code == 302
    need = db.session.scalar(sa.select(Need))
    assert need.status == "draft" and need.submitted_at is None


def test_amounts_accept_a_french_decimal_comma_and_spaces(client, db, world):
    english(client, "anne@chu.example.fr")
    response = post_form(
        client, "/needs/new", need_form(annual_amount="1 234,50", quantity="2\u202f500,5", unit="ramette")
    )
    assert response.status_code == 302
    need = db.session.scalar(sa.select(Need))
    assert need.annual_amount == Decimal("1234.50")
    assert need.quantity == Decimal("2500.50") and need.unit == "ramette"


def test_invalid_input_is_shown_on_each_field_and_nothing_is_written(client, db, world):
    english(client, "anne@chu.example.fr")
    response = post_form(
        client,
        "/needs/new",
        need_form(title="  ", cpv_code="99999999", annual_amount="-5", duration_months="200", delivery_postcode="2100"),
    )
    assert response.status_code == 400
    text = page(response)
    assert "The title is required." in text
    assert "Unknown CPV code: 99999999" in text
    assert "The yearly amount must be greater than zero." in text
    assert "The duration is a whole number of months from 1 to 120." in text
    assert re.search(r'class="form-control is-invalid" id="title"', text)
    assert re.search(r'class="form-control is-invalid" id="annual_amount"', text)
    assert 'value="-5"' in text  # the user's input is kept
    assert count_needs(db) == 0


def test_an_amount_that_is_not_a_number_is_refused_on_its_field(client, db, world):
    english(client, "anne@chu.example.fr")
    text = page(post_form(client, "/needs/new", need_form(annual_amount="douze mille")))
    assert "Not a number: write it like 1234,50 or 1 234,50." in text
    assert 'value="douze mille"' in text
    text = page(post_form(client, "/needs/new", need_form(annual_amount="12.345")))
    assert "Amounts have at most two decimals (cents)." in text
    assert count_needs(db) == 0


def test_only_buyers_record_needs(client, db, world):
    english(client, "coord@dm.example.fr")
    assert client.get("/needs/new").status_code == 403
    token = csrf_from(client.get("/needs").get_data(as_text=True))
    assert client.post("/needs/new", data={**need_form(), "csrf_token": token}).status_code == 403
    assert count_needs(db) == 0


# --- editing ---------------------------------------------------------------------------------------------------


def test_edit_form_is_prefilled_and_saves_the_changes(client, db, world):
    need = make_need(world.chu, status="draft", annual="1234.50", quantity=Decimal("10"), unit="lot")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    text = page(client.get(f"/needs/{need.id}/edit"))
    assert 'value="Électricité des bâtiments"' in text and 'value="1234.50"' in text
    assert 'name="version" type="hidden" value="1"' in text
    assert re.search(r'"09310000-5 (—|\\u2014) Electricity"', text)  # the picker shows the chosen code's label
    response = post_form(
        client,
        f"/needs/{need.id}/edit",
        need_form(title="Électricité 2027", annual_amount="2000", submit=None, version="1"),
    )
    assert response.status_code == 302
    saved = fresh(db, need.id)
    assert saved.title == "Électricité 2027" and saved.annual_amount == Decimal("2000.00")
    assert saved.status == "draft" and saved.version == 2
    assert saved.quantity is None and saved.unit is None  # emptied fields are emptied, not kept


def test_save_and_submit_from_the_edit_form(client, db, world):
    need = make_need(world.chu, status="draft")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    response = post_form(client, f"/needs/{need.id}/edit", need_form(version="1"))
    assert response.status_code == 302
    assert fresh(db, need.id).status == "submitted"


def test_edit_with_a_stale_version_shows_the_conflict_keeps_the_input_and_overwrites_nothing(client, db, world):
    need = make_need(world.chu, status="draft")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    form_page = client.get(f"/needs/{need.id}/edit").get_data(as_text=True)
    # Meanwhile a colleague saves the need.
    services.update_need(db.session, world.buyer, need, {"title": "Colleague's title"})
    db.session.commit()
    response = client.post(
        f"/needs/{need.id}/edit",
        data={**need_form(title="My title", submit=None, save="y", version="1"), "csrf_token": csrf_from(form_page)},
    )
    assert response.status_code == 409
    text = page(response)
    assert "This need was changed by someone else meanwhile." in text
    assert 'value="My title"' in text and 'name="version" type="hidden" value="1"' in text
    saved = fresh(db, need.id)
    assert saved.title == "Colleague's title" and saved.version == 2


def test_an_unreadable_version_counts_as_stale_not_as_a_server_error(client, db, world):
    need = make_need(world.chu, status="draft")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    for version in ("²", "abc", "-1", ""):  # "²" is a digit to str.isdigit() but not to int()
        response = post_form(client, f"/needs/{need.id}/edit", need_form(title="Other", save="y", version=version))
        assert response.status_code == 409, version
        assert "This need was changed by someone else meanwhile." in page(response)
    assert fresh(db, need.id).title != "Other" and fresh(db, need.id).version == 1


# --- status changes and delete ---------------------------------------------------------------------------------


def _post_status(client, need_id: int, status: str):
    return post_form(client, f"/needs/{need_id}/status", {"status": status}, page=f"/needs/{need_id}")


def test_owner_submits_withdraws_and_takes_back_a_need_with_the_allowed_buttons_only(client, db, world):
    need = make_need(world.chu, status="draft")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    text = page(client.get(f"/needs/{need.id}"))
    assert 'value="submitted"' in text and 'value="withdrawn"' not in text and "Edit</a>" in text

    assert _post_status(client, need.id, "submitted").status_code == 302
    assert fresh(db, need.id).status == "submitted"
    text = page(client.get(f"/needs/{need.id}"))
    assert "The need is submitted to the purchasing coordinators." in text
    assert 'value="withdrawn"' in text and 'value="draft"' in text and 'value="submitted"' not in text

    _post_status(client, need.id, "withdrawn")
    assert fresh(db, need.id).status == "withdrawn"
    _post_status(client, need.id, "draft")
    assert fresh(db, need.id).status == "draft"


def test_a_status_change_the_service_refuses_is_shown_as_a_message(client, db, world):
    need = make_need(world.chu, status="draft")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    response = _post_status(client, need.id, "withdrawn")
    assert response.status_code == 409  # the need's page again, with the reason
    assert "A need cannot go from draft to withdrawn." in page(response)
    assert fresh(db, need.id).status == "draft"


def test_owner_deletes_a_need_after_confirming_in_the_page(client, db, world):
    need = make_need(world.chu, status="submitted", title="To delete")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    text = page(client.get(f"/needs/{need.id}"))
    assert "Delete this need for good? This cannot be undone." in text
    response = post_form(client, f"/needs/{need.id}/delete", {}, page=f"/needs/{need.id}")
    assert response.status_code == 302 and response.headers["Location"] == "/needs"
    assert fresh(db, need.id) is None
    assert "The need “To delete” is deleted." in page(client.get("/needs"))


def test_a_grouped_need_can_no_longer_be_edited_deleted_or_change_status(client, db, world):
    need = make_need(world.chu, status="submitted", title="Pooled electricity")
    need.status = "grouped"
    db.session.commit()
    english(client, "anne@chu.example.fr")
    text = page(client.get(f"/needs/{need.id}"))
    assert "Grouped</span>" in text
    assert "Edit</a>" not in text and "Delete" not in text and 'name="status"' not in text

    response = client.get(f"/needs/{need.id}/edit")
    assert response.status_code == 302
    assert "can no longer change" in page(client.get(f"/needs/{need.id}"))
    token = csrf_from(text)
    edit = client.post(f"/needs/{need.id}/edit", data={**need_form(title="Hijack", version="1"), "csrf_token": token})
    assert edit.status_code == 302
    delete = client.post(f"/needs/{need.id}/delete", data={"csrf_token": token})
    assert delete.status_code == 409
    assert "cannot be deleted" in page(delete)
    status = client.post(f"/needs/{need.id}/status", data={"status": "withdrawn", "csrf_token": token})
    assert status.status_code == 409
    kept = fresh(db, need.id)
    assert kept.status == "grouped" and kept.title == "Pooled electricity"


# --- list: filters, sort, pagination, query count -------------------------------------------------------------


def test_list_filters_by_organization_cpv_status_period_and_text(client, db, world):
    make_need(world.chu, title="Electricity CHU", cpv="09310000", start=date(2027, 1, 1))
    make_need(world.chu, title="Diesel CHU", cpv="09134100", start=date(2027, 6, 1), status="withdrawn")
    make_need(world.ub, title="Electricity UB", cpv="09310000", start=date(2028, 1, 1))
    make_need(world.ub, title="Paper UB", cpv="30197630", start=date(2027, 3, 1))
    db.session.commit()
    english(client, "coord@dm.example.fr")

    def titles(query: str) -> list[str]:
        response = client.get(f"/needs?{query}")
        assert response.status_code == 200, query
        return sorted(listed_titles(response))

    assert titles("organization=UB") == ["Electricity UB", "Paper UB"]
    assert titles("cpv=0931") == ["Electricity CHU", "Electricity UB"]
    assert titles("cpv=09000000") == ["Diesel CHU", "Electricity CHU", "Electricity UB"]  # a division covers its codes
    assert titles("status=withdrawn") == ["Diesel CHU"]
    assert titles("start_from=2027-02-01&start_to=2027-12-31") == ["Diesel CHU", "Paper UB"]
    assert titles("q=electricity") == ["Electricity CHU", "Electricity UB"]
    assert titles("organization=CHU&cpv=09310000&q=elec") == ["Electricity CHU"]
    assert "No need matches these filters." in page(client.get("/needs?q=nothing-like-this"))


def test_list_sorts_by_each_column_both_ways(client, db, world):
    make_need(world.chu, title="B", annual="300", start=date(2027, 2, 1), status="draft")
    make_need(world.chu, title="C", annual="100", start=date(2027, 3, 1), status="withdrawn")
    make_need(world.chu, title="A", annual="200", start=date(2027, 1, 1), status="submitted")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    assert listed_titles(client.get("/needs")) == ["A", "B", "C"]  # by start date by default
    assert listed_titles(client.get("/needs?sort=annual_amount")) == ["C", "A", "B"]
    assert listed_titles(client.get("/needs?sort=annual_amount&dir=desc")) == ["B", "A", "C"]
    assert listed_titles(client.get("/needs?sort=title&dir=desc")) == ["C", "B", "A"]
    assert listed_titles(client.get("/needs?sort=status")) == ["B", "A", "C"]  # draft, submitted, withdrawn
    text = page(client.get("/needs?sort=title&status=draft"))
    # the active column links to the other direction and keeps the filters
    assert re.search(r'href="/needs\?[^"]*sort=title[^"]*dir=desc', text)
    amount_links = re.findall(r'href="(/needs\?[^"]*sort=annual_amount[^"]*)"', text)
    assert amount_links and all("status=draft" in link and "dir=asc" in link for link in amount_links)


def test_list_is_paginated_by_25(client, db, world):
    for n in range(30):
        make_need(world.chu, title=f"Need {n:02d}", start=date(2027, 1, 1 + n % 28))
    db.session.commit()
    english(client, "anne@chu.example.fr")
    first = client.get("/needs?sort=title")
    assert len(listed_titles(first)) == 25
    assert "Needs 1–25 of 30" in page(first)
    assert 'href="/needs?sort=title&amp;page=2"' in first.get_data(as_text=True)
    second = client.get("/needs?sort=title&page=2")
    assert listed_titles(second) == [f"Need {n}" for n in range(25, 30)]
    assert listed_titles(client.get("/needs?page=9")) == []
    assert client.get("/needs?page=abc").status_code == 200


@pytest.mark.parametrize(
    "query, message",
    [
        ("cpv=abc", "A CPV code or prefix has 2 to 8 digits."),
        ("status=lost", "Unknown status."),
        ("sort=price", "Unknown sort order."),
        ("start_from=31/31/2027", "Not a valid date value."),
    ],
)
def test_bad_filter_values_are_explained_not_a_server_error(client, db, world, query, message):
    make_need(world.chu)
    db.session.commit()
    english(client, "anne@chu.example.fr")
    response = client.get(f"/needs?{query}")
    assert response.status_code == 200
    text = page(response)
    assert message in text
    assert "Some filters are not valid: correct them to see the needs." in text
    assert listed_titles(response) == []


def test_list_query_count_does_not_grow_with_the_number_of_needs(client, db, world, query_counter):
    codes = db.session.scalars(sa.select(CpvCode.code).where(CpvCode.level == "class").limit(30)).all()
    for n in range(3):
        make_need(world.chu if n % 2 else world.ub, title=f"Need {n}", cpv=codes[n])
    db.session.commit()
    english(client, "coord@dm.example.fr")
    client.get("/needs")  # warm-up

    def queries() -> int:
        with query_counter() as count:
            response = client.get("/needs")
        assert response.status_code == 200
        return count.value, len(listed_titles(response))

    few, shown = queries()
    assert shown == 3
    for n in range(3, 30):
        make_need(world.chu if n % 2 else world.ub, title=f"Need {n}", cpv=codes[n])
    db.session.commit()
    many, shown = queries()
    assert shown == 25
    assert many == few
    assert few <= 6, few


# --- home page -------------------------------------------------------------------------------------------------


def test_buyer_home_counts_the_organization_needs_per_status_and_links_to_the_pages(client, db, world):
    make_need(world.chu, status="draft")
    make_need(world.chu, status="draft")
    make_need(world.chu, status="submitted")
    make_need(world.ub, status="submitted")
    db.session.commit()
    english(client, "anne@chu.example.fr")
    text = page(client.get("/"))
    assert re.search(r'id="count-draft">2<', text) and re.search(r'id="count-submitted">1<', text)
    assert re.search(r'id="count-withdrawn">0<', text) and re.search(r'id="count-grouped">0<', text)
    for url in ("/needs/new", "/needs/import", "/needs"):
        assert f'href="{url}"' in text


# --- import ----------------------------------------------------------------------------------------------------

HEADER_FR = "Intitulé;Code CPV;Montant annuel HT (€);Date de début;Durée (mois);Code postal de livraison\r\n"
VALID_CSV = (
    HEADER_FR
    + "Électricité verte;09310000;150 000,00;01/01/2027;36;21000\r\n"
    + "Papier recyclé;30197630-1;12500,50;01/03/2027;24;21000\r\n"
    + "Nettoyage des locaux;90910000;80000;2027-09-01;48;\r\n"
).encode()


def _upload(client, data: bytes, filename: str):
    return post_form(
        client, "/needs/import", {"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )


def _token(response) -> str:
    match = re.search(r"/needs/import/([A-Za-z0-9_-]+)/(?:confirm|report\.csv)", response.get_data(as_text=True))
    assert match, "no import token in the page"
    return match.group(1)


def _imports(app) -> Path:
    return Path(app.config["UPLOAD_FOLDER"]) / "imports"


def test_import_page_documents_the_columns_and_links_the_templates(client, db, world):
    english(client, "anne@chu.example.fr")
    text = page(client.get("/needs/import"))
    assert "Annual amount excl. VAT (EUR)" in text and "Montant annuel HT (€)" in text
    assert text.count(">required</span>") == 5
    assert 'href="/needs/import/template.csv?lang=fr"' in text and 'href="/needs/import/template.csv?lang=en"' in text


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_template_downloads_and_parses_back(client, db, world, lang):
    english(client, "anne@chu.example.fr")
    response = client.get(f"/needs/import/template.csv?lang={lang}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    known = set(db.session.scalars(sa.select(CpvCode.code)))
    result = parse_needs(response.data, "template.csv", known_cpv=known.__contains__)
    assert result.ok and len(result.rows) == 1 and result.rows[0]["cpv_code"] == "30197630"


def test_valid_csv_is_previewed_then_imported_for_the_organization(client, db, world, app):
    english(client, "anne@chu.example.fr")
    preview = _upload(client, VALID_CSV, "besoins.csv")
    assert preview.status_code == 200
    text = page(preview)
    assert "The file is valid: 3 needs are ready to import." in text
    assert "Électricité verte" in text and "Papier recyclé" in text and "€150,000.00" in text
    assert re.search(r'<input checked[^>]* name="submit_now" type="checkbox"', text)  # ticked by default
    assert count_needs(db) == 0  # nothing before the confirmation
    token = _token(preview)
    assert (_imports(app) / token).is_file()

    response = post_form(client, f"/needs/import/{token}/confirm", {"submit_now": "y"}, page="/needs/import")
    assert response.status_code == 302 and response.headers["Location"] == "/needs"
    assert "3 needs imported." in page(client.get("/needs"))
    needs = db.session.scalars(sa.select(Need).order_by(Need.start_date)).all()
    assert [n.title for n in needs] == ["Électricité verte", "Papier recyclé", "Nettoyage des locaux"]
    assert {n.organization_id for n in needs} == {world.chu.id}
    assert {n.status for n in needs} == {"submitted"}
    assert needs[0].annual_amount == Decimal("150000.00") and needs[1].annual_amount == Decimal("12500.50")
    assert not (_imports(app) / token).exists()  # the temporary file is gone
    assert client.post(f"/needs/import/{token}/confirm", data={"csrf_token": csrf_from(text)}).status_code == 404


def test_unticking_submit_now_imports_drafts(client, db, world):
    english(client, "anne@chu.example.fr")
    token = _token(_upload(client, VALID_CSV, "besoins.csv"))
    response = post_form(client, f"/needs/import/{token}/confirm", {}, page="/needs/import")
    assert response.status_code == 302
    assert set(db.session.scalars(sa.select(Need.status))) == {"draft"}


def test_a_file_with_bad_rows_reports_each_row_imports_nothing_and_offers_the_report(client, db, world):
    bad = (
        HEADER_FR
        + "Électricité verte;09310000;150 000,00;01/01/2027;36;21000\r\n"
        + ";09310000;1000;01/01/2027;12;21000\r\n"  # row 3: no title
        + "Papier;99999999;1000;01/01/2027;12;21000\r\n"  # row 4: unknown CPV
        + "Nettoyage;90910000;-5;2027-09-01;200;21000\r\n"  # row 5: negative amount, duration too long
    ).encode()
    english(client, "anne@chu.example.fr")
    response = _upload(client, bad, "besoins.csv")
    assert response.status_code == 400
    text = page(response)
    assert "3 rows of “besoins.csv” have errors." in text
    problems = re.findall(
        r'<tr>\s*<td class="text-end">(\d+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>', text, flags=re.S
    )
    assert [(row, column) for row, column, _ in problems] == [
        ("3", "Title"),
        ("4", "CPV code"),
        ("5", "Annual amount excl. VAT (EUR)"),
        ("5", "Duration (months)"),
    ]
    assert "The CPV code 99999999 does not exist in the CPV 2008 nomenclature." in text
    assert "/confirm" not in text and 'name="submit_now"' not in text
    assert count_needs(db) == 0

    report = client.get(f"/needs/import/{_token(response)}/report.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    assert report.data.startswith(b"\xef\xbb\xbf")
    lines = report.data.decode("utf-8-sig").splitlines()
    assert lines[0] == "row;column;error"
    assert [line.split(";")[:2] for line in lines[1:]] == [
        ["3", "Title"],
        ["4", "CPV code"],
        ["5", "Annual amount excl. VAT (EUR)"],
        ["5", "Duration (months)"],
    ]
    assert "This column must be filled in." in lines[1]
    assert count_needs(db) == 0


def test_an_xlsx_file_is_imported_too(client, db, world):
    book = factories.xlsx(
        {
            "Besoins": [
                ["Title", "CPV code", "Annual amount excl. VAT (EUR)", "Start date", "Duration (months)"],
                ["Fuel for the fleet", "09134100", 45000.5, date(2027, 4, 1), 12],
                ["Office supplies", 30192000, 8000, date(2027, 5, 1), 24],
            ]
        }
    )
    english(client, "anne@chu.example.fr")
    preview = _upload(client, book, "needs.xlsx")
    text = page(preview)
    assert "The file is valid: 2 needs are ready to import." in text and "sheet Besoins" in text
    post_form(client, f"/needs/import/{_token(preview)}/confirm", {"submit_now": "y"}, page="/needs/import")
    needs = db.session.scalars(sa.select(Need).order_by(Need.title)).all()
    assert [(n.title, n.cpv_code, n.annual_amount) for n in needs] == [
        ("Fuel for the fleet", "09134100", Decimal("45000.50")),
        ("Office supplies", "30192000", Decimal("8000.00")),
    ]
    assert {n.organization_id for n in needs} == {world.chu.id}


def test_only_csv_and_xlsx_files_are_accepted(client, db, world):
    english(client, "anne@chu.example.fr")
    text = page(_upload(client, VALID_CSV, "besoins.txt"))
    assert "Only .csv and .xlsx files are accepted." in text
    text = page(_upload(client, HEADER_FR.encode(), "empty.csv"))
    assert "no data rows" in text or "no rows to import" in text
    assert count_needs(db) == 0


def test_an_import_token_of_another_session_is_not_found(client, new_client, db, world):
    english(client, "anne@chu.example.fr")
    response = _upload(client, VALID_CSV, "besoins.csv")
    token = _token(response)
    for email in ("paul@ub.example.fr", "anne@chu.example.fr"):  # another buyer, and the same buyer elsewhere
        intruder = english(new_client(), email)
        assert intruder.get(f"/needs/import/{token}/report.csv").status_code == 404
        other = csrf_from(intruder.get("/needs/import").get_data(as_text=True))
        assert intruder.post(f"/needs/import/{token}/confirm", data={"csrf_token": other}).status_code == 404
    assert count_needs(db) == 0
    assert client.get("/needs/import/not-a-token/report.csv").status_code == 404


def test_a_new_upload_replaces_the_previous_pending_file(client, db, world, app):
    english(client, "anne@chu.example.fr")
    first = _token(_upload(client, VALID_CSV, "one.csv"))
    second = _token(_upload(client, VALID_CSV, "two.csv"))
    assert first != second
    assert not (_imports(app) / first).exists() and (_imports(app) / second).is_file()
    assert client.get(f"/needs/import/{first}/report.csv").status_code == 404


def test_import_pages_are_for_buyers_only(client, db, world):
    english(client, "coord@dm.example.fr")
    assert client.get("/needs/import").status_code == 403
    assert client.get("/needs/import/template.csv").status_code == 403


def test_an_upload_above_the_size_limit_is_refused_with_413(client, web_app, db, world):
    web_app.config["MAX_CONTENT_LENGTH"] = 4096
    english(client, "anne@chu.example.fr")
    response = _upload(client, VALID_CSV + b"x" * 8192, "big.csv")
    assert response.status_code == 413
    assert "The file or request is too large." in page(response)
    assert count_needs(db) == 0


def test_editing_a_need_of_a_forming_group_warns_then_voids_the_signatures(client, db, world):
    from app.groups import services as group_services
    from app.groups.models import GroupEvent

    mine, theirs = make_need(world.chu), make_need(world.ub)
    group = group_services.form_group(
        db.session,
        world.coordinator,
        name="Électricité 2027",
        need_ids=[mine.id, theirs.id],
        coordinator_organization_code="UB",
    )
    for buyer in (world.buyer, world.other_buyer):
        group_services.confirm_membership(db.session, buyer, group)
        group_services.sign_convention(db.session, buyer, group)
    db.session.commit()
    english(client, "anne@chu.example.fr")
    text = page(client.get(f"/needs/{mine.id}/edit"))
    assert "This need is in a group being formed (Électricité 2027)" in text
    form = need_form(
        title=mine.title, annual_amount="12000.00", start_date="2027-01-01", duration_months="48", version="1"
    )
    assert post_form(client, f"/needs/{mine.id}/edit", form).status_code == 302
    db.session.expire_all()
    assert {m.status for m in group.memberships} == {"confirmed"}
    voided = db.session.scalars(
        sa.select(GroupEvent.after).where(GroupEvent.group_id == group.id, GroupEvent.action == "signatures_voided")
    ).one()
    assert voided["need"] == mine.id and voided["to_sign_again"] == ["CHU", "UB"]
    alone = make_need(world.chu, title="Hors groupement")
    db.session.commit()
    response = client.get(f"/needs/{alone.id}/edit")
    assert response.status_code == 200 and "This need is in a group being formed" not in page(response)
