"""The pages of pooled calls and sealed bids: per role, the sealed-bid matrix, the deadline by the server clock, the
fresh-login rule, replacement and withdrawal, documents, questions, evaluation and award, subscriptions."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.calls import services
from app.calls.models import Bid, Call, CallDocument, Question, Subscription
from app.calls.services import LotInput, sealing
from app.clock import utcnow
from app.groups import services as group_services
from app.notifications.models import Notification
from tests import factories
from tests.conftest import api_token, csrf_from, english, login
from tests.factories import CALLS_DEADLINE as DEADLINE
from tests.factories import CALLS_NOW as NOW

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
AMOUNT_FORMS = ("498765", "498,765", "498 765", "498\u202f765", "498\xa0765")
BIDDER = "Société Alpha Énergie"  # trades outside the call's class: never listed as a matched supplier
BID_COUNT = re.compile(
    r"(?<![-\w])\d+\s+(?:bids?|offers?|tenderers?)(?![-\w])|no bids? (?:yet|was received)|numberOfTenderers", re.I
)


@pytest.fixture
def world(db, clock):
    group, orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord@x.fr"
    factories.user("buyer", email="member@x.fr", organization_=orgs[1])
    factories.user("buyer", email="outsider@x.fr", organization_=factories.organization("OUT"))
    factories.user("admin", email="admin@x.fr")
    alpha = factories.supplier_company(trades=("90910000",), postcode="21000", name=BIDDER, siret="12345678200010")
    beta = factories.supplier_company(trades=("09310000",), postcode="71100", name="Société Beta")
    factories.user("supplier", email="alpha@x.fr", supplier=alpha)
    factories.user("supplier", email="beta@x.fr", supplier=beta)
    db.session.commit()
    return {"group": group, "orgs": orgs, "coordinator": coordinator, "alpha": alpha, "beta": beta}


def text(response) -> str:
    """The page as read: entities decoded, Babel's narrow and non-breaking spaces as plain spaces."""
    return html.unescape(response.get_data(as_text=True)).replace("\u202f", " ").replace("\xa0", " ")


def make_call(db, world, *, publish=True, **kw) -> Call:
    """The world's call, published by default, committed."""
    call = factories.call(world["coordinator"], world["group"], publish=publish, **kw)
    db.session.commit()
    return call


def bid_form(client, call: Call, lot_id: int, amount: str, **extra):
    page = client.get(f"/calls/{call.id}")
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "lot_id": str(lot_id), f"bid-{lot_id}-amount": amount}
    data.update({f"bid-{lot_id}-{k}": v for k, v in extra.items()})
    return client.post(f"/calls/{call.id}/bids", data=data)


def post(client, url: str, data: dict, page: str, **kwargs):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def bids(db) -> list[Bid]:
    """Every stored bid, its sealed content opened in memory with the server key (the database holds it sealed)."""
    db.session.expire_all()
    found = list(db.session.scalars(sa.select(Bid)))
    for placed in found:
        sealing.reveal_own(db.session.get(Call, placed.call_id), [placed])
    # Bid ids are random: order by time, then replaced/withdrawn before active (the clock is frozen), then amount.
    history = {"replaced": 0, "withdrawn": 1, "active": 2}
    return sorted(found, key=lambda b: (b.submitted_at, history[b.status], b.amount))


# --- preparing a call -----------------------------------------------------------------------------------------------


def test_coordinator_prepares_a_call_from_the_group_lots_in_paris_time(client, db, world):
    group = world["group"]
    group_services.create_lot(
        db.session,
        world["coordinator"],
        group,
        group_services.LotValues(
            title="Électricité verte", cpv_code="09310000", shares={"CHU": {"annual_amount": Decimal("100000")}}
        ),
    )
    db.session.commit()
    english(client, "coord@x.fr")
    group_page = text(client.get(f"/groups/{group.id}"))
    assert "Prepare a call" in group_page and f"/groups/{group.id}/calls/new" in group_page

    form = text(client.get(f"/groups/{group.id}/calls/new"))
    # the lot's total estimated value: 100 000 a year × 36 months / 12
    assert 'value="Électricité verte"' in form and 'value="09310000"' in form and 'value="300000.00"' in form
    assert "Paris time" in form and 'type="datetime-local"' in form
    assert "Price points = lowest amount ÷ amount × weight" in form
    lot_id = group.lots[0].id
    response = post(
        client,
        f"/groups/{group.id}/calls/new",
        {
            "title": "Électricité 2027-2029",
            "description": "Trois ans.",
            "questions_deadline": "2026-12-05T12:00",
            "bid_deadline": "2026-12-10T12:00",
            "lots-0-group_lot_id": str(lot_id),
            "lots-0-title": "Électricité verte",
            "lots-0-cpv_code": "09310000",
            "lots-0-estimated_amount": "600 000,00",
            "lots-1-title": "Bornes de recharge",
            "lots-1-cpv_code": "31681500",
            "lots-1-estimated_amount": "45000",
            "weight_price": "50",
            "weight_technical": "30",
            "weight_environmental": "10",
            "weight_social": "10",
            "create": "Create the draft call",
        },
        page=f"/groups/{group.id}/calls/new",
    )
    assert response.status_code == 302
    call = db.session.scalar(sa.select(Call))
    assert response.headers["Location"].endswith(f"/calls/{call.id}")
    assert call.status == "draft" and call.title == "Électricité 2027-2029"
    # Paris in winter is UTC+1: noon in Paris is 11:00 UTC.
    assert call.bid_deadline == datetime(2026, 12, 10, 11, 0, tzinfo=UTC)
    assert call.questions_deadline == datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
    assert [(lot.title, lot.cpv_code, lot.estimated_amount, lot.group_lot_id) for lot in call.lots] == [
        ("Électricité verte", "09310000", Decimal("600000.00"), lot_id),
        ("Bornes de recharge", "31681500", Decimal("45000.00"), None),
    ]
    assert [(c.name, c.weight) for c in call.criteria] == [
        ("price", 50),
        ("technical", 30),
        ("environmental", 10),
        ("social", 10),
    ]
    page = text(client.get(response.headers["Location"]))
    # 17 days before a formal procedure's usual 35: a warning, not a refusal
    assert "Warning:" in page and "usually gives at least 35 days" in page
    assert "Publish the call" in page
    assert 'title="2026-12-10 11:00:00 UTC"' in page and "Dec 10, 2026, 12:00 PM" in page and "12:00:00 PM" not in page


def test_summer_deadlines_are_converted_with_the_summer_offset(client, db, world):
    english(client, "coord@x.fr")
    group = world["group"]
    response = post(
        client,
        f"/groups/{group.id}/calls/new",
        {
            "title": "Été",
            "questions_deadline": "2027-06-01T09:30",
            "bid_deadline": "2027-06-10T12:00",
            "lots-0-title": "Électricité",
            "lots-0-cpv_code": "09310000",
            "lots-0-estimated_amount": "1000",
            "weight_price": "100",
            "create": "1",
        },
        page=f"/groups/{group.id}/calls/new",
    )
    assert response.status_code == 302
    call = db.session.scalar(sa.select(Call))
    assert call.bid_deadline == datetime(2027, 6, 10, 10, 0, tzinfo=UTC)  # UTC+2 in summer
    assert call.questions_deadline == datetime(2027, 6, 1, 7, 30, tzinfo=UTC)


def test_the_call_form_shows_the_service_refusals_on_the_fields_and_saves_nothing(client, db, world):
    english(client, "coord@x.fr")
    group = world["group"]
    response = post(
        client,
        f"/groups/{group.id}/calls/new",
        {
            "title": "",
            "questions_deadline": "2026-11-01T12:00",
            "bid_deadline": "2026-12-10T12:00",
            "lots-0-title": "Électricité",
            "lots-0-cpv_code": "99999999",
            "lots-0-estimated_amount": "0",
            "weight_price": "50",
            "weight_technical": "30",
            "create": "1",
        },
        page=f"/groups/{group.id}/calls/new",
    )
    assert response.status_code == 400
    page = text(response)
    assert "The title is required." in page
    assert "This deadline is already past." in page
    assert "Unknown CPV code: 99999999" in page
    assert "The estimated amount must be greater than zero." in page
    assert "The weights must add up to 100." in page
    assert db.session.scalar(sa.select(sa.func.count(Call.id))) == 0


def test_a_call_needs_at_least_one_lot_and_a_row_can_be_added(client, db, world):
    english(client, "coord@x.fr")
    url = f"/groups/{world['group'].id}/calls/new"
    base = {"title": "T", "questions_deadline": "2026-12-05T12:00", "bid_deadline": "2026-12-10T12:00"}
    added = post(client, url, {**base, "lots-0-title": "A", "add_lot": "Add a lot"}, page=url)
    assert added.status_code == 200 and 'id="lots-1-title"' in text(added)
    removed = post(
        client,
        url,
        {**base, "lots-0-title": "A", "lots-0-remove": "y", "weight_price": "100", "create": "1"},
        page=url,
    )
    assert removed.status_code == 400 and "A call has at least one lot." in text(removed)
    assert db.session.scalar(sa.select(sa.func.count(Call.id))) == 0


def test_a_group_that_is_not_constituted_gets_a_clear_message(client, db, world):
    chu = world["orgs"][1]
    need = factories.need(
        chu,
        title="Gaz",
        cpv="09123000",
        annual="1000",
        start=NOW.date() + timedelta(days=300),
        months=12,
        postcode=None,
    )
    forming = group_services.form_group(db.session, world["coordinator"], name="Gaz", need_ids=[need.id])
    db.session.commit()
    english(client, "coord@x.fr")
    assert "Prepare a call" not in text(client.get(f"/groups/{forming.id}"))
    page = text(client.get(f"/groups/{forming.id}/calls/new"))
    assert "This group is not constituted yet." in page and 'name="title"' not in page
    refused = post(client, f"/groups/{forming.id}/calls/new", {"title": "x"}, page=f"/groups/{forming.id}")
    assert refused.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count(Call.id))) == 0


@pytest.mark.parametrize("email", ["member@x.fr", "admin@x.fr", "beta@x.fr"])
def test_only_coordinators_prepare_calls(client, db, world, email):
    english(client, email)
    assert client.get(f"/groups/{world['group'].id}/calls/new").status_code == 403


# --- sealed bids: every role × every page, before and after the deadline --------------------------------------------

ROLES = {
    "coord": "coord@x.fr",
    "admin": "admin@x.fr",
    "member": "member@x.fr",
    "outsider": "outsider@x.fr",
    "alpha": "alpha@x.fr",  # the bidder
    "beta": "beta@x.fr",  # another supplier
    "anonymous": None,
}
_TOKENS = re.compile(r'(csrf[-_]token"[^>]*?(?:value|content)=")[^"]+"')


def observe(new_client, urls: dict[str, str]) -> dict[tuple[str, str], tuple[int, str]]:
    """Every role's view of every URL, each from a fresh session (the clock may have moved past the session's age)."""
    seen = {}
    for role, email in ROLES.items():
        client = english(new_client(), email)
        for name, url in urls.items():
            response = client.get(url)
            seen[(role, name)] = (response.status_code, _TOKENS.sub(r"\1", text(response)))
            response.close()  # a download streams its file
    return seen


def says_nothing_of_the_bid(page: str) -> bool:
    return not any(form in page for form in AMOUNT_FORMS) and BIDDER not in page and not BID_COUNT.search(page)


def test_sealed_bid_matrix_every_role_every_page_before_and_after_the_deadline(new_client, db, world, clock, app):
    call = make_call(db, world)
    document = services.add_document(
        db.session, world["coordinator"], call, "cahier.pdf", PDF, app.config["UPLOAD_FOLDER"]
    )
    db.session.commit()
    lot_id = call.lots[0].id
    pages = {
        "call": f"/calls/{call.id}",
        "list": "/calls",
        "list_all": "/calls?status=",
        "document": f"/calls/{call.id}/documents/{document.id}",
        "group": f"/groups/{world['group'].id}",
        "home": "/",
        "notifications": "/notifications",
    }
    without_bid = observe(new_client, pages)

    alpha = english(new_client(), "alpha@x.fr")
    response = bid_form(alpha, call, lot_id, "498 765,43", technical_note="Offre verte")
    assert response.status_code == 302
    (placed,) = bids(db)
    assert placed.amount == Decimal("498765.43") and placed.supplier_id == world["alpha"].id
    bid_pages = {
        "receipt": f"/bids/{placed.id}/receipt",
        "receipt_json": f"/bids/{placed.id}/receipt.json",
        "bid": f"/bids/{placed.id}",
    }
    before = observe(new_client, pages | bid_pages)

    for role in ROLES:
        if role == "alpha":
            continue
        for name in pages:
            status, page = before[(role, name)]
            # nothing depends on the bid: the very same page as before it was submitted
            assert (status, page) == without_bid[(role, name)], (role, name)
            assert says_nothing_of_the_bid(page), (role, name)
        for name in bid_pages:
            status, page = before[(role, name)]
            assert says_nothing_of_the_bid(page), (role, name)
            assert status in (302, 403, 404), (role, name, status)
    assert before[("beta", "receipt")][0] == 404 and before[("beta", "receipt_json")][0] == 404
    for role in ("coord", "admin", "member", "outsider"):
        assert before[(role, "receipt")][0] == 403 and before[(role, "receipt_json")][0] == 403
    # a published call and its documents are public (R2132-2); the page says nothing of the bids
    assert before[("anonymous", "call")][0] == 200 and before[("anonymous", "document")][0] == 200
    assert before[("outsider", "call")][0] == 404 and before[("outsider", "document")][0] == 404
    for role in ("coord", "admin", "member"):
        assert "Bids are sealed until Dec 10, 2026, 12:00 PM (Paris time)." in before[(role, "call")][1]
    # the bidder, and only the bidder, sees its bid and its receipt
    assert "€498,765.43" in before[("alpha", "call")][1] and "€498,765.43" in before[("alpha", "receipt")][1]
    assert before[("alpha", "receipt_json")][1] == placed.receipt_content
    assert "€498,765.43" not in before[("beta", "call")][1]

    clock.move_to(DEADLINE)
    after = observe(new_client, pages | bid_pages)
    for role in ("coord", "admin", "member"):
        status, page = after[(role, "call")]
        assert status == 200 and BIDDER in page and "€498,765.43" in page and "Rank" in page, role
        assert "Bids are sealed" not in page
    assert "Save the scores of every bid" in after[("coord", "call")][1] and "Award" in after[("coord", "call")][1]
    assert "Save the scores of every bid" not in after[("member", "call")][1]
    assert after[("outsider", "call")][0] == 404
    for name in pages | bid_pages:
        assert says_nothing_of_the_bid(after[("beta", name)][1]), name
        assert says_nothing_of_the_bid(after[("anonymous", name)][1]), name
    assert after[("beta", "receipt")][0] == 404
    assert db.session.scalar(sa.select(sa.func.count(Bid.id))) == 1
    # the page closed the call once the deadline passed (the scheduler may be stopped)
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "closed"


def test_the_document_download_is_an_attachment_with_nosniff(client, db, world, app):
    call = make_call(db, world)
    document = services.add_document(
        db.session, world["coordinator"], call, "cahier des charges.pdf", PDF, app.config["UPLOAD_FOLDER"]
    )
    db.session.commit()
    english(client, "beta@x.fr")
    response = client.get(f"/calls/{call.id}/documents/{document.id}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    response.close()
    assert client.get(f"/calls/{call.id}/documents/{document.id + 99}").status_code == 404


def test_suppliers_do_not_see_draft_calls_or_their_documents(client, db, world, app):
    call = make_call(db, world, publish=False)
    document = services.add_document(db.session, world["coordinator"], call, "c.pdf", PDF, app.config["UPLOAD_FOLDER"])
    db.session.commit()
    english(client, "beta@x.fr")
    assert client.get(f"/calls/{call.id}").status_code == 404
    assert client.get(f"/calls/{call.id}/documents/{document.id}").status_code == 404
    assert call.title not in text(client.get("/calls?status="))


# --- bids through the page: deadline, fresh login, replacement, withdrawal, receipts --------------------------------


@pytest.mark.parametrize(("offset", "accepted"), [(-1, True), (0, False), (1, False)])
def test_the_bid_deadline_is_enforced_to_the_second_through_the_form(new_client, db, world, clock, offset, accepted):
    call = make_call(db, world)
    lot_id = call.lots[0].id
    clock.move_to(DEADLINE + timedelta(seconds=offset) - timedelta(minutes=1))
    alpha = english(new_client(), "alpha@x.fr")
    token = csrf_from(alpha.get(f"/calls/{call.id}").get_data(as_text=True))
    clock.move_to(DEADLINE + timedelta(seconds=offset))
    response = alpha.post(
        f"/calls/{call.id}/bids",
        data={"csrf_token": token, "lot_id": str(lot_id), f"bid-{lot_id}-amount": "500000"},
    )
    if accepted:
        assert response.status_code == 302 and "/receipt" in response.headers["Location"]
        assert len(bids(db)) == 1
    else:
        assert response.status_code == 409
        assert "Bids on this call closed on Dec 10, 2026, 12:00 PM (Paris time)." in text(response)
        assert bids(db) == []


def test_a_session_restored_from_the_remember_me_cookie_must_log_in_again_to_bid(client, db, world):
    call = make_call(db, world)
    lot_id = call.lots[0].id
    english(client, "alpha@x.fr")
    token = csrf_from(client.get(f"/calls/{call.id}").get_data(as_text=True))
    with client.session_transaction() as session:
        session["_fresh"] = False
    response = client.post(
        f"/calls/{call.id}/bids",
        data={"csrf_token": token, "lot_id": str(lot_id), f"bid-{lot_id}-amount": "500000"},
        headers={"Referer": f"http://localhost/calls/{call.id}"},
    )
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert f"next=/calls/{call.id}" in response.headers["Location"].replace("%2F", "/")
    assert bids(db) == []
    login_page = text(client.get(response.headers["Location"]))
    assert "log in again with your password to submit or withdraw a bid" in login_page
    # after the password, back to the call, and the bid goes through
    assert login(client, "alpha@x.fr").status_code == 302
    assert bid_form(client, call, lot_id, "500000").status_code == 302
    assert len(bids(db)) == 1


def test_withdrawing_needs_a_fresh_login_too(client, db, world):
    call = make_call(db, world)
    english(client, "alpha@x.fr")
    bid_form(client, call, call.lots[0].id, "500000")
    (placed,) = bids(db)
    token = csrf_from(client.get(f"/calls/{call.id}").get_data(as_text=True))
    with client.session_transaction() as session:
        session["_fresh"] = False
    response = client.post(f"/bids/{placed.id}/withdraw", data={"csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert bids(db)[0].status == "active"


def test_a_new_bid_replaces_the_active_one_and_withdrawal_works_before_the_deadline(new_client, db, world, clock):
    call = make_call(db, world)
    lot_id = call.lots[0].id
    alpha = english(new_client(), "alpha@x.fr")
    bid_form(alpha, call, lot_id, "500 000,00", delivery_distance_km="12,5")
    page = text(alpha.get(f"/calls/{call.id}"))
    assert "Replace my bid" in page and 'value="500000.00"' in page
    bid_form(alpha, call, lot_id, "490000.00")
    first, second = bids(db)
    assert (first.status, second.status) == ("replaced", "active")
    assert first.delivery_distance_km == Decimal("12.5") and second.amount == Decimal("490000.00")
    page = text(alpha.get(f"/calls/{call.id}"))
    assert "Replaced" in page and "€490,000.00" in page

    beta = english(new_client(), "beta@x.fr")
    refused = post(beta, f"/bids/{second.id}/withdraw", {}, page=f"/calls/{call.id}")
    assert refused.status_code == 404 and bids(db)[1].status == "active"

    withdrawn = post(alpha, f"/bids/{second.id}/withdraw", {}, page=f"/calls/{call.id}")
    assert withdrawn.status_code == 302
    assert bids(db)[1].status == "withdrawn"
    assert "Your bid is withdrawn." in text(alpha.get(withdrawn.headers["Location"]))

    bid_form(alpha, call, lot_id, "480000")
    third = bids(db)[2]
    token = csrf_from(alpha.get(f"/calls/{call.id}").get_data(as_text=True))
    clock.move_to(DEADLINE)
    alpha = english(new_client(), "alpha@x.fr")
    token = csrf_from(alpha.get(f"/calls/{call.id}").get_data(as_text=True))
    late = alpha.post(f"/bids/{third.id}/withdraw", data={"csrf_token": token})
    assert late.status_code == 409 and bids(db)[2].status == "active"  # the call page again, with the reason
    assert "closed on Dec 10, 2026, 12:00 PM (Paris time)" in text(late)


def test_a_late_bid_is_refused_with_the_deadline_in_paris_time_in_french(new_client, db, world, clock):
    """The deadline is noon in Paris (11:00 UTC in winter): the refusal says 12:00, heure de Paris, without seconds."""
    call = make_call(db, world)
    lot_id = call.lots[0].id
    clock.move_to(DEADLINE - timedelta(minutes=1))
    alpha = new_client()
    login(alpha, "alpha@x.fr")
    token = csrf_from(alpha.get(f"/calls/{call.id}").get_data(as_text=True))
    clock.move_to(DEADLINE + timedelta(seconds=5))
    response = alpha.post(
        f"/calls/{call.id}/bids",
        data={"csrf_token": token, "lot_id": str(lot_id), f"bid-{lot_id}-amount": "500000"},
    )
    assert response.status_code == 409
    body = text(response)
    assert "étaient reçues jusqu’au 10 déc. 2026, 12:00 (heure de Paris)." in body
    assert "(UTC)" not in body and "12:00:00" not in body


def test_bid_form_errors_are_shown_and_nothing_is_stored(client, db, world):
    call = make_call(db, world)
    lot_id = call.lots[0].id
    english(client, "alpha@x.fr")
    for amount, message in (
        ("abc", "Not a number"),
        ("", "The amount must be greater than zero."),
        ("12,345", "Amounts have at most two decimals (cents)."),
        ("-5", "The amount must be greater than zero."),
    ):
        response = bid_form(client, call, lot_id, amount)
        assert response.status_code == 400 and message in text(response), amount
    assert bids(db) == []


def test_the_receipt_shows_utc_and_paris_time_the_sha256_and_the_exact_content(client, db, world):
    call = make_call(db, world)
    english(client, "alpha@x.fr")
    response = bid_form(client, call, call.lots[0].id, "480 000,50", technical_note="Offre <verte> & locale")
    (placed,) = bids(db)
    assert response.headers["Location"].endswith(f"/bids/{placed.id}/receipt")
    page = text(client.get(response.headers["Location"]))
    assert "2026-11-23T09:00:00.000000+00:00" in page  # server time, UTC
    assert "2026-11-23 10:00:00+01:00" in page  # Paris time
    assert placed.receipt_sha256 in page and placed.receipt_content in page
    assert "Offre <verte> & locale" in page and "<verte>" not in response.get_data(as_text=True)
    download = client.get(f"/bids/{placed.id}/receipt.json")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.get_data(as_text=True) == placed.receipt_content
    assert hashlib.sha256(download.data).hexdigest() == placed.receipt_sha256
    assert json.loads(download.data)["amount_eur"] == "480000.50"
    # the notification of the bid leads to the receipt
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "bid_received"))
    assert client.get(note.link).headers["Location"].endswith(f"/bids/{placed.id}/receipt")


# --- the coordinator's page: publishing, matched suppliers, documents, questions ------------------------------------


def test_publishing_a_draft_lists_and_notifies_the_matching_suppliers_local_first(client, db, world):
    far = factories.supplier_company(trades=("09310000",), postcode="75001", name="Lointain SA")
    near = factories.supplier_company(trades=("09310000",), postcode="21800", name="Proche SARL")
    factories.user("supplier", supplier=far)
    factories.user("supplier", supplier=near)
    call = make_call(db, world, publish=False)
    english(client, "coord@x.fr")
    page = text(client.get(f"/calls/{call.id}"))
    assert "Suppliers to be notified" in page
    order = [page.index(name) for name in ("Proche SARL", "Société Beta", "Lointain SA")]
    assert order == sorted(order)
    assert "Same département" in page and "Same region" in page and "Elsewhere" in page
    assert BIDDER not in page  # its trades do not match
    asked = post(client, f"/calls/{call.id}/publish", {}, page=f"/calls/{call.id}")
    assert asked.status_code == 200 and "Yes, publish the call" in text(asked)  # the confirmation, nothing done
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "draft"
    response = post(client, f"/calls/{call.id}/publish", {"confirmed": "yes"}, page=f"/calls/{call.id}")
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "The call is published: 3 matching suppliers are notified." in page
    assert "Publish the call" not in page and "Open for bids" in page
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "published"


def test_cancelling_needs_a_reason(client, db, world):
    call = make_call(db, world)
    english(client, "coord@x.fr")
    refused = post(client, f"/calls/{call.id}/cancel", {"cancel-reason": " "}, page=f"/calls/{call.id}")
    assert refused.status_code == 400 and "Say why the call is cancelled." in text(refused)
    done = post(client, f"/calls/{call.id}/cancel", {"cancel-reason": "Besoin revu"}, page=f"/calls/{call.id}")
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "cancelled"
    assert "This call is cancelled." in text(client.get(f"/calls/{call.id}"))


@pytest.mark.parametrize(
    ("filename", "data", "accepted"),
    [
        ("cahier.pdf", PDF, True),
        ("script.pdf", b"<html><script>alert(1)</script></html>", False),
        ("programme.exe", b"MZ\x90\x00\x03\x00\x00\x00", False),
        ("cahier.docx", PDF, False),  # the name must match the content
        ("vide.pdf", b"", False),
    ],
)
def test_document_upload_checks_the_type_by_content(client, db, world, filename, data, accepted):
    call = make_call(db, world, publish=False)
    english(client, "coord@x.fr")
    response = post(
        client,
        f"/calls/{call.id}/documents",
        {"upload-file": (io.BytesIO(data), filename)},
        page=f"/calls/{call.id}",
        content_type="multipart/form-data",
    )
    stored = db.session.scalars(sa.select(CallDocument)).all()
    if accepted:
        assert response.status_code == 302 and [d.filename for d in stored] == [filename]
        page = text(client.get(response.headers["Location"]))
        assert f"The document “{filename}” is added to the call." in page
        assert f"/calls/{call.id}/documents/{stored[0].id}" in page
    else:
        assert response.status_code == 400 and stored == []
        page = text(response)
        assert "Only PDF, ODT, DOCX and XLSX files are accepted" in page or "The file is empty." in page


def test_only_coordinators_upload_documents(client, db, world):
    call = make_call(db, world)
    english(client, "beta@x.fr")
    response = post(
        client,
        f"/calls/{call.id}/documents",
        {"upload-file": (io.BytesIO(PDF), "x.pdf")},
        page=f"/calls/{call.id}",
        content_type="multipart/form-data",
    )
    assert response.status_code == 403 and db.session.scalars(sa.select(CallDocument)).all() == []


def test_questions_and_answers_never_show_who_asked(new_client, db, world, clock):
    call = make_call(db, world)
    alpha = english(new_client(), "alpha@x.fr")
    asked = post(
        alpha,
        f"/calls/{call.id}/questions",
        {"question-text": "Les volumes sont-ils fermes ?"},
        page=f"/calls/{call.id}",
    )
    assert asked.status_code == 302
    assert "Les volumes sont-ils fermes ?" in text(alpha.get(f"/calls/{call.id}"))  # waiting for its answer
    question = db.session.scalar(sa.select(Question))
    assert question.supplier_id == world["alpha"].id

    coord = english(new_client(), "coord@x.fr")
    page = text(coord.get(f"/calls/{call.id}"))
    assert "Questions waiting for an answer" in page and "Les volumes sont-ils fermes ?" in page
    assert BIDDER not in page and world["alpha"].siret not in page.replace("\u00a0", "")
    empty = post(
        coord,
        f"/calls/{call.id}/questions/{question.id}/answer",
        {f"answer-{question.id}-answer": ""},
        page=f"/calls/{call.id}",
    )
    assert empty.status_code == 400 and "Write the answer." in text(empty)
    answered = post(
        coord,
        f"/calls/{call.id}/questions/{question.id}/answer",
        {f"answer-{question.id}-answer": "Non, ils sont estimatifs."},
        page=f"/calls/{call.id}",
    )
    assert answered.status_code == 302

    for email in ("beta@x.fr", "member@x.fr", "coord@x.fr", "admin@x.fr"):
        page = text(english(new_client(), email).get(f"/calls/{call.id}"))
        assert "Les volumes sont-ils fermes ?" in page and "Non, ils sont estimatifs." in page, email
        assert BIDDER not in page and world["alpha"].siret not in page.replace("\u00a0", ""), email
    told = db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "question_answered")).all()
    assert told == [db.session.scalar(sa.select(User.id).where(User.email == "alpha@x.fr"))]  # only who asked

    clock.move_to(call.questions_deadline)
    alpha = english(new_client(), "alpha@x.fr")
    page = text(alpha.get(f"/calls/{call.id}"))
    assert "Questions are closed." in page and 'name="question-text"' not in page
    late = post(alpha, f"/calls/{call.id}/questions", {"question-text": "Trop tard ?"}, page=f"/calls/{call.id}")
    assert late.status_code == 409 and "Questions on this call are closed." in text(late)
    assert db.session.scalar(sa.select(sa.func.count(Question.id))) == 1


# --- evaluation and award through the pages -------------------------------------------------------------------------


def test_scoring_ranking_award_and_contracts_through_the_pages(new_client, db, world, clock):
    call = make_call(db, world)
    lot_id = call.lots[0].id
    bid_form(english(new_client(), "alpha@x.fr"), call, lot_id, "450000")
    bid_form(english(new_client(), "beta@x.fr"), call, lot_id, "500000")
    a, b = bids(db)

    coord = english(new_client(), "coord@x.fr")
    early = post(coord, f"/calls/{call.id}/scores", {"bid_id": a.id, f"score-{a.id}-technical": "60"}, page="/")
    assert early.status_code == 409 and bids(db)[0].scores == []  # refused: the call is not closed
    assert "Bids can be evaluated only after the deadline" in text(early)
    assert says_nothing_of_the_bid(text(early))

    clock.move_to(DEADLINE + timedelta(hours=1))
    coord = english(new_client(), "coord@x.fr")
    page = text(coord.get(f"/calls/{call.id}"))
    assert "Bids and evaluation" in page and BIDDER in page and "Société Beta" in page
    assert "to score" in page

    out_of_range = post(
        coord, f"/calls/{call.id}/scores", {"bid_id": a.id, f"score-{a.id}-technical": "120"}, page=f"/calls/{call.id}"
    )
    assert out_of_range.status_code == 400 and "A score from 0 to 100." in text(out_of_range)
    for bid_id, tech in ((a.id, "60"), (b.id, "90")):
        response = post(
            coord,
            f"/calls/{call.id}/scores",
            {"bid_id": bid_id, f"score-{bid_id}-technical": tech, f"score-{bid_id}-environmental": "50"},
            page=f"/calls/{call.id}",
        )
        assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "evaluated"
    page = text(coord.get(f"/calls/{call.id}"))
    # a: 60 + 18 + 5 = 83 ; b: 450/500 × 60 = 54 + 27 + 5 = 86 → b first
    rows = re.findall(r'<tr data-bid="(\d+)".*?class="amount fw-semibold total">([\d.]+)</td>', page, re.S)
    assert rows == [(str(b.id), "86.00"), (str(a.id), "83.00")]

    award = {"lot_id": lot_id, "bid_id": a.id, "confirmed": "yes"}
    refused = post(coord, f"/calls/{call.id}/awards", award, page=f"/calls/{call.id}")
    assert refused.status_code == 409 and "The lot goes to the best-ranked offer" in text(refused)
    asked = post(coord, f"/calls/{call.id}/awards", {"lot_id": lot_id, "bid_id": b.id}, page=f"/calls/{call.id}")
    assert asked.status_code == 200 and "Award lot 1 to Société Beta for €500,000.00 excl. VAT?" in text(asked)
    assert f'name="bid_id" value="{b.id}"' in text(asked) and not services.award_notices(db.session, call)
    award = {"lot_id": lot_id, "bid_id": b.id, "confirmed": "yes"}
    awarded = post(coord, f"/calls/{call.id}/awards", award, page=f"/calls/{call.id}")
    page = text(coord.get(awarded.headers["Location"]))
    assert "Lot 1 is awarded to Société Beta." in page
    assert "Awarded to Société Beta for €500,000.00." in page and "Contracts per member" in page
    contracts = re.findall(r'data-contract-org="(\w+)".*?class="amount">([^<]+)</td>', page, re.S)
    assert contracts == [("CHU", "€250,000.00"), ("DM", "€50,000.00"), ("UB", "€200,000.00")]  # by organization
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "awarded"
    member = text(english(new_client(), "member@x.fr").get(f"/calls/{call.id}"))
    assert "Contracts per member" in member and "Awarded to Société Beta" in member
    assert f"/calls/{call.id}/awards" not in member and "Save the scores" not in member  # read only


def test_a_lot_without_a_good_offer_can_be_declared_unsuccessful(new_client, db, world, clock):
    call = make_call(db, world)
    bid_form(english(new_client(), "alpha@x.fr"), call, call.lots[0].id, "500000")
    clock.move_to(DEADLINE)
    coord = english(new_client(), "coord@x.fr")
    response = post(coord, f"/calls/{call.id}/lots/{call.lots[0].id}/unsuccessful", {}, page=f"/calls/{call.id}")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "unsuccessful"
    assert "The lot is declared unsuccessful." in text(coord.get(response.headers["Location"]))


def test_the_call_page_does_not_query_per_question_or_document(new_client, db, world, query_counter, app):
    calls = []
    for size in (2, 10):
        call = make_call(db, world, title=f"Appel {size}")
        for n in range(size):
            db.session.add(
                CallDocument(
                    call_id=call.id,
                    filename=f"d{n}.pdf",
                    content_type="application/pdf",
                    size=10,
                    sha256="0" * 64,
                    storage_key=f"k{size}-{n}",
                )
            )
            db.session.add(
                Question(
                    call_id=call.id, supplier_id=world["beta"].id, text=f"Q{n}", answer=f"A{n}", answered_at=utcnow()
                )
            )
            db.session.add(Question(call_id=call.id, supplier_id=world["beta"].id, text=f"Open {n}"))
        db.session.commit()
        calls.append(call.id)
    for email in ("coord@x.fr", "beta@x.fr", "member@x.fr"):
        counts, _pages = call_page_statements(new_client, query_counter, email, calls)
        assert counts[0] == counts[1], (email, counts)


def call_page_statements(new_client, query_counter, email: str, call_ids: list[int]) -> tuple[list[int], list[str]]:
    """The statements each call page sends for the user (after a first request: session, locale), and the pages."""
    client = english(new_client(), email)
    counts, pages = [], []
    for call_id in call_ids:
        client.get(f"/calls/{call_id}")
        with query_counter() as count:
            page = client.get(f"/calls/{call_id}")
        assert page.status_code == 200, email
        counts.append(count.value)
        pages.append(text(page))
    return counts, pages


def test_the_evaluation_on_the_call_page_does_not_query_per_lot_or_bid(new_client, db, world, clock, query_counter):
    """After the deadline, one lot with two bids and three lots with six bids (scored, with notes, on group lots with
    their members' shares) are shown to every evaluator in as many statements."""
    group, coordinator = world["group"], world["coordinator"]
    suppliers = [factories.user("supplier", supplier=world[name]) for name in ("alpha", "beta")]
    calls = []
    for size in (1, 3):
        lots = []
        for n in range(size):
            group_lot = group_services.create_lot(
                db.session,
                coordinator,
                group,
                group_services.LotValues(
                    title=f"Lot {size}-{n}",
                    cpv_code="09310000",
                    shares={"CHU": {"annual_amount": Decimal("100000")}, "UB": {"annual_amount": Decimal("50000")}},
                ),
            )
            lots.append(LotInput(f"Lot {size}-{n}", "09310000-5", Decimal("450000.00"), group_lot_id=group_lot.id))
        call = factories.call(coordinator, group, title=f"Appel à {size} lots", lots=lots, publish=True)
        for lot in call.lots:
            for k, supplier in enumerate(suppliers):
                factories.bid(supplier, call, f"{400000 + 1000 * k}.00", lot_id=lot.id, technical_note="Note")
        calls.append(call)
    db.session.commit()
    clock.move_to(DEADLINE + timedelta(minutes=5))
    for call in calls:
        services.ensure_closed(db.session, call)
        placed = services.list_bids(db.session, coordinator, call)
        services.score_bid(db.session, coordinator, call, placed[0].id, {"technical": 60})
    db.session.commit()
    for email in ("coord@x.fr", "member@x.fr", "admin@x.fr"):
        counts, pages = call_page_statements(new_client, query_counter, email, [call.id for call in calls])
        assert [page.count('<tr data-bid="') for page in pages] == [2, 6], email
        assert counts[0] == counts[1], (email, counts)


# --- the list, the home pages, the group page, subscriptions --------------------------------------------------------


def test_each_role_lists_the_calls_it_may_see(new_client, db, world):
    open_call = make_call(db, world, title="Appel ouvert")
    draft = make_call(db, world, publish=False, title="Appel en préparation")
    for email, sees, hides in (
        ("coord@x.fr", ("Appel ouvert", "Appel en préparation"), ()),
        ("admin@x.fr", ("Appel ouvert", "Appel en préparation"), ()),
        ("member@x.fr", ("Appel ouvert", "Appel en préparation"), ()),
        ("outsider@x.fr", (), ("Appel ouvert", "Appel en préparation")),
        ("beta@x.fr", ("Appel ouvert",), ("Appel en préparation",)),
    ):
        client = english(new_client(), email)
        page = text(client.get("/calls?status="))
        assert all(t in page for t in sees) and not any(t in page for t in hides), email
        assert "Calls for tenders" in text(client.get("/"))  # in the menu
    coord = english(new_client(), "coord@x.fr")
    assert f'data-call-id="{draft.id}"' in text(coord.get("/calls?status=draft"))
    assert f'data-call-id="{open_call.id}"' not in text(coord.get("/calls?status=draft"))


def test_suppliers_filter_by_cpv_place_and_their_trades(new_client, db, world):
    make_call(db, world, title="Électricité")
    make_call(db, world, title="Nettoyage", lots=[LotInput("Nettoyage", "90910000", Decimal("80000"))])
    beta = english(new_client(), "beta@x.fr")  # trades: 09310000
    page = text(beta.get("/calls"))
    assert "Électricité" in page and "Nettoyage" in page and "Open for bids" in page
    page = text(beta.get("/calls?cpv=09000000"))
    assert "Électricité" in page and "Nettoyage" not in page
    page = text(beta.get("/calls?matching=y"))
    assert "Électricité" in page and "Nettoyage" not in page
    alpha = english(new_client(), "alpha@x.fr")  # trades: 90910000
    page = text(alpha.get("/calls?matching=y"))
    assert "Nettoyage" in page and "Électricité" not in page
    assert "Électricité" in text(alpha.get("/calls?place=21"))  # the coordinating organization is in Dijon
    assert "No call matches these filters." in text(alpha.get("/calls?place=75"))
    assert "A CPV code or prefix has 2 to 8 digits." in text(alpha.get("/calls?cpv=x"))


def test_subscriptions_are_added_listed_used_and_removed(new_client, db, world):
    alpha = english(new_client(), "alpha@x.fr")
    home = text(alpha.get("/"))
    assert "Manage my subscriptions" in home and "No open call matches your trades or subscriptions" in home
    added = post(alpha, "/account/subscriptions", {"cpv_prefix": "09300000"}, page="/account/subscriptions")
    assert added.status_code == 302
    assert db.session.scalars(sa.select(Subscription.cpv_prefix)).all() == ["093"]
    page = text(alpha.get("/account/subscriptions"))
    assert "You will hear of the calls under 093." in page and "Electricity, heating, solar and nuclear energy" in page
    bad = post(alpha, "/account/subscriptions", {"cpv_prefix": "9"}, page="/account/subscriptions")
    assert bad.status_code == 400 and "A CPV code or prefix has 2 to 8 digits." in text(bad)

    call = make_call(db, world)
    home = text(alpha.get("/"))
    assert "Open calls for your trades" in home and f"/calls/{call.id}" in home and "left" in home
    assert call.title in text(alpha.get("/calls?matching=y"))
    removed = post(alpha, "/account/subscriptions", {"remove": "093"}, page="/account/subscriptions")
    assert removed.status_code == 302 and db.session.scalars(sa.select(Subscription)).all() == []
    assert f"/calls/{call.id}" not in text(alpha.get("/"))
    for email in ("coord@x.fr", "member@x.fr"):
        assert english(new_client(), email).get("/account/subscriptions").status_code == 403


def test_the_group_page_lists_its_calls_by_their_status_on_the_clock(new_client, db, world, clock):
    call = make_call(db, world)
    for email in ("coord@x.fr", "member@x.fr", "admin@x.fr"):
        page = text(english(new_client(), email).get(f"/groups/{world['group'].id}"))
        assert f"/calls/{call.id}" in page and "Open for bids" in page, email
        assert ("Prepare a call" in page) == (email == "coord@x.fr")
    clock.move_to(DEADLINE + timedelta(minutes=1))
    page = text(english(new_client(), "member@x.fr").get(f"/groups/{world['group'].id}"))
    assert 'data-call-status="closed"' not in page and "Closed" in page


def test_the_pages_render_in_the_default_french_interface(new_client, db, world, clock):
    call = make_call(db, world)
    alpha = new_client()
    login(alpha, "alpha@x.fr")
    assert bid_form(alpha, call, call.lots[0].id, "1 234,50").status_code == 302
    (placed,) = bids(db)
    assert placed.amount == Decimal("1234.50")
    for url in (f"/calls/{call.id}", "/calls", f"/bids/{placed.id}/receipt", "/account/subscriptions", "/"):
        response = alpha.get(url)
        assert response.status_code == 200 and '<html lang="fr">' in response.get_data(as_text=True), url
    assert "10 déc. 2026, 12:00" in text(alpha.get(f"/calls/{call.id}"))
    clock.move_to(DEADLINE)
    coord = new_client()
    login(coord, "coord@x.fr")
    for url in (
        f"/calls/{call.id}",
        "/calls",
        f"/groups/{world['group'].id}/calls/new",
        f"/groups/{world['group'].id}",
    ):
        assert coord.get(url).status_code == 200, url
    assert "1 234,50 €" in text(coord.get(f"/calls/{call.id}"))


def test_a_document_whose_file_is_missing_answers_404_on_the_page_and_the_api(client, new_client, db, world, app):
    call = make_call(db, world)
    document = services.add_document(db.session, world["coordinator"], call, "c.pdf", PDF, app.config["UPLOAD_FOLDER"])
    db.session.commit()
    path = Path(app.config["UPLOAD_FOLDER"]) / "calls" / document.storage_key
    path.unlink()
    english(client, "beta@x.fr")
    page = client.get(f"/calls/{call.id}/documents/{document.id}")
    assert page.status_code == 404 and "text/html" in page.content_type
    api = new_client()
    response = api.get(f"/api/v1/calls/{call.id}/documents/{document.id}", headers=api_token(api, "beta@x.fr"))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_the_call_page_marks_the_small_lots_of_a_formal_call(client, db, world):
    lots = [LotInput("Électricité", "09310000", Decimal("600000.00")), LotInput("Gaz", "09123000", Decimal("60000.00"))]
    call = make_call(db, world, lots=lots)  # 660,000 € excl. VAT: formal; 60,000 € is below 80,000 € and 20 %
    english(client, "coord@x.fr")
    body = text(client.get(f"/calls/{call.id}"))
    table = body.split('class="table align-middle call-lots"')[1].split("</table>")[0]
    rows = dict(re.findall(r'<tr data-lot="(\d+)">(.*?)</tr>', table, re.S))
    assert "Small lot: adapted procedure possible" in rows["2"] and "Small lot" not in rows["1"]
    assert "R2123-1 2°" in body
