"""Dates before the threshold table (app/data/procedure_thresholds.csv): refused where they are typed, and a stored
one shows "procedure unknown for that date" instead of breaking the group list, page or API for anyone."""

from datetime import date

import pytest
import sqlalchemy as sa

from app.groups.models import PurchaseGroup
from tests import factories
from tests.conftest import api_token, english, post_form

UNKNOWN = "Procedure unknown for that date"


@pytest.fixture
def group_of_2019(db):
    """A group whose planned publication (2019) predates every threshold, written straight into the database."""
    group, orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord@dm.example.fr"
    buyer = factories.user("buyer", email="buyer@chu.example.fr", organization_=orgs[1])
    db.session.execute(
        sa.update(PurchaseGroup).where(PurchaseGroup.id == group.id).values(planned_publication_on=date(2019, 6, 1))
    )
    db.session.commit()
    return group.id, [coordinator.email, buyer.email]


def test_a_stored_2019_date_shows_procedure_unknown_on_pages(client, new_client, group_of_2019):
    group_id, emails = group_of_2019
    for email in emails:
        browser = english(new_client(), email)
        listing = browser.get("/groups")
        assert listing.status_code == 200, email
        page = browser.get(f"/groups/{group_id}")
        assert page.status_code == 200, email
        assert UNKNOWN in page.get_data(as_text=True)
        assert browser.get(f"/groups/{group_id}/convention").status_code == 200, email


def test_a_stored_2019_date_gives_a_null_procedure_in_the_api(client, new_client, group_of_2019):
    group_id, emails = group_of_2019
    for email in emails:
        api = new_client()
        headers = {**api_token(api, email), "Accept-Language": "en"}
        listed = api.get("/api/v1/groups", headers=headers)
        assert listed.status_code == 200, email
        one = api.get(f"/api/v1/groups/{group_id}", headers=headers)
        assert one.status_code == 200, email
        body = one.get_json()
        assert body["procedure"] is None and body["procedure_unknown_reason"].startswith(UNKNOWN)
        assert body["total_amount_eur"] == "600000.00"  # the figures are still given


def test_a_planned_publication_before_the_table_is_refused_in_the_api(client, db, group_of_2019):
    group_id, (coordinator, _) = group_of_2019
    headers = api_token(client, coordinator)
    version = client.get(f"/api/v1/groups/{group_id}", headers=headers).get_json()["version"]
    response = client.patch(
        f"/api/v1/groups/{group_id}",
        json={"version": version, "planned_publication_on": "2019-01-01"},
        headers=headers,
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert "2024" in error["details"]["fields"]["planned_publication_on"][0]
    assert (
        client.get(f"/api/v1/groups/{group_id}", headers=headers).get_json()["planned_publication_on"] == "2019-06-01"
    )


def test_a_planned_publication_before_the_table_is_refused_on_the_form(client, db, group_of_2019):
    group_id, (coordinator, _) = group_of_2019
    english(client, coordinator)
    version = db.session.get(PurchaseGroup, group_id).version
    response = post_form(
        client,
        f"/groups/{group_id}/edit",
        {"version": version, "name": "Groupement test", "planned_publication_on": "2019-01-01"},
    )
    assert response.status_code == 400
    assert "No procedure thresholds are known before" in response.get_data(as_text=True)
    assert db.session.get(PurchaseGroup, group_id).planned_publication_on == date(2019, 6, 1)


def test_an_overlap_window_before_the_table_is_refused(client, db):
    factories.user("coordinator", email="coord@dm.example.fr")
    db.session.commit()
    headers = api_token(client, "coord@dm.example.fr")
    response = client.get("/api/v1/overlaps?from=2019-01-01", headers=headers)
    assert response.status_code == 400
    assert "from" in response.get_json()["error"]["details"]["fields"]
    english(client, "coord@dm.example.fr")
    page = client.get("/overlaps?from=2019-01-01")
    assert page.status_code == 200  # the query form again, the error on its date
    assert "No procedure thresholds are known before" in page.get_data(as_text=True)
