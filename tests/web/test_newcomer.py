"""What a newcomer sees on an empty platform: every list says what to do next; help on the procedure rules and on the
carbon estimate; a progress bar while an import file is sent and checked."""

from __future__ import annotations

import html

import pytest

from tests import factories
from tests.conftest import english


@pytest.fixture
def people(db):
    org = factories.organization("DM", name="Dijon Métropole")
    factories.user("coordinator", email="coord@x.fr", organization_=org)
    factories.user("buyer", email="buyer@x.fr", organization_=org)
    factories.user("admin", email="admin@x.fr")
    factories.user("supplier", email="supplier@x.fr")
    db.session.commit()


EMPTY_STATES = {
    "coord@x.fr": {
        "/needs": "No need has been submitted yet: the buyers of the partner organizations record theirs",
        "/groups": "No group yet: form one from submitted needs or from the overlap map.",
        "/calls": "No call yet: a coordinator prepares one from the page of a constituted group.",
        "/notifications": "No notification yet: invitations to groups, answers to questions",
    },
    "buyer@x.fr": {
        "/needs": "No need recorded yet: record one or import a spreadsheet.",
        "/groups": "Your organization is not invited to any group yet: submit your needs",
    },
    "admin@x.fr": {
        "/groups": "No group yet: the coordinators form them from the overlap map.",
    },
    "supplier@x.fr": {
        "/calls": "No call is open for bids at the moment. Subscribe to CPV codes to hear of the next ones.",
        "/notifications": "No notification yet:",
    },
}


@pytest.mark.parametrize("email", sorted(EMPTY_STATES))
def test_every_empty_list_says_what_to_do(new_client, people, email):
    client = english(new_client(), email)
    for url, text in EMPTY_STATES[email].items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert text in html.unescape(response.get_data(as_text=True)), url


def test_the_spend_imports_and_supplier_lists_say_what_to_do(new_client, db):
    factories.user("admin", email="admin@x.fr")
    factories.user("coordinator", email="coord@x.fr", organization_=factories.organization("DM"))
    db.session.commit()
    client = english(new_client(), "admin@x.fr")
    imports = html.unescape(client.get("/spend/imports").get_data(as_text=True))
    assert "No import yet: upload a spend file or a DECP file with the form on this page." in imports
    suppliers = html.unescape(client.get("/admin/suppliers").get_data(as_text=True))
    assert "No supplier has registered yet: suppliers create their account themselves with “Supplier registration”" in (
        suppliers
    )


def test_help_on_the_procedure_rules_and_the_carbon_estimate(new_client, db):
    group, _orgs, coordinator = factories.constituted_group()
    db.session.commit()
    client = english(new_client(), coordinator.email)
    impact = html.unescape(client.get("/spend/impact").get_data(as_text=True))
    assert "How is the carbon estimate computed?" in impact and "kgCO2e per thousand euros" in impact
    page = html.unescape(client.get(f"/groups/{group.id}").get_data(as_text=True))
    assert "How is the procedure decided?" in page and 'href="/overlaps#rules"' in page


def test_a_needs_import_shows_a_progress_bar_while_the_file_is_sent_and_checked(new_client, people):
    client = english(new_client(), "buyer@x.fr")
    page = client.get("/needs/import").get_data(as_text=True)
    assert 'data-upload-progress="upload-progress"' in page and 'role="progressbar"' in page
    assert "js/spend-upload.js" in page and "File sent; checking every row…" in html.unescape(page)
