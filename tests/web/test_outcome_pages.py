"""What suppliers learn once a lot is decided, on the pages: the outcome on the call page, the home page and "my bids
and contracts", the letter to unsuccessful bidders (page and mail after the commit), the receipt as a PDF, and the
award notice for anonymous visitors."""

from __future__ import annotations

import re
import zlib
from datetime import timedelta

import sqlalchemy as sa

from tests.conftest import english, login
from tests.factories import CALLS_DEADLINE as DEADLINE
from tests.web import test_call_pages
from tests.web.test_call_pages import BIDDER, bid_form, bids, make_call, post, text

world = test_call_pages.world  # the call pages' world: a constituted group, its coordinator, members and two suppliers


def awarded_call(new_client, db, world, clock):
    """Alpha bids 450 000, Beta 500 000; Beta scores better and wins the lot through the coordinator's pages."""
    call = make_call(db, world)
    lot_id = call.lots[0].id
    bid_form(english(new_client(), "alpha@x.fr"), call, lot_id, "450000")
    bid_form(english(new_client(), "beta@x.fr"), call, lot_id, "500000")
    a, b = bids(db)
    clock.move_to(DEADLINE + timedelta(hours=1))
    coord = english(new_client(), "coord@x.fr")
    for bid_id, tech in ((a.id, "60"), (b.id, "90")):
        fields = {"bid_id": bid_id, f"score-{bid_id}-technical": tech, f"score-{bid_id}-environmental": "50"}
        assert post(coord, f"/calls/{call.id}/scores", fields, page=f"/calls/{call.id}").status_code == 302
    award = {"lot_id": lot_id, "bid_id": b.id, "confirmed": "yes"}
    awarded = post(coord, f"/calls/{call.id}/awards", award, page=f"/calls/{call.id}")
    assert awarded.status_code == 302
    return call, a, b


def test_the_unsuccessful_bidder_sees_its_outcome_and_its_letter_and_is_mailed_it(
    new_client, db, world, clock, mailbox
):
    call, a, b = awarded_call(new_client, db, world, clock)
    letters = [m for m in mailbox.received if f"/bids/{a.id}/letter" in m.message.get_content()]
    assert [m.message["To"] for m in letters] == ["alpha@x.fr"]  # after the commit, the loser only
    body = letters[0].message.get_content()
    assert "Société Beta" in body and "11" in body  # the winner and the standstill period, in French
    alpha = english(new_client(), "alpha@x.fr")
    page = text(alpha.get(f"/calls/{call.id}"))
    assert f'data-bid="{a.id}" data-bid-status="unsuccessful"' in page and "Rank 2 of 2, 83.00 points" in page
    assert "Lot 1 is awarded to Société Beta for €500,000.00" in page  # the award notice
    assert f"/bids/{a.id}/letter" in page
    letter = alpha.get(f"/bids/{a.id}/letter")
    assert letter.status_code == 200
    letter = text(letter)
    assert "Your offer was not retained" in letter and "ranked 2 of 2 with 83.00 points" in letter
    assert "Société Beta" in letter and "standstill period of 11 days" in letter
    mine = text(alpha.get("/account/bids"))
    assert 'data-bid-status="unsuccessful"' in mine and "2 of 2" in mine and "No lot is awarded to you yet" in mine
    home = text(alpha.get("/"))
    assert f'data-bid="{a.id}" data-bid-status="unsuccessful"' in home
    assert alpha.get(f"/bids/{b.id}/letter").status_code == 404  # another supplier's bid
    french = new_client()
    login(french, "alpha@x.fr")
    letter = text(french.get(f"/bids/{a.id}/letter"))
    assert "Votre offre n’a pas été retenue" in letter and "délai de suspension de 11 jours" in letter
    assert "Votre offre est classée 2 sur 2 avec 83,00 points sur 100" in letter


def test_the_winner_sees_its_award_and_its_contracts_and_has_no_letter(new_client, db, world, clock):
    call, a, b = awarded_call(new_client, db, world, clock)
    beta = english(new_client(), "beta@x.fr")
    page = text(beta.get(f"/calls/{call.id}"))
    assert f'data-bid="{b.id}" data-bid-status="awarded"' in page and "Rank 1 of 2, 86.00 points" in page
    assert BIDDER not in page and "450,000" not in page  # nothing of the other bid
    assert beta.get(f"/bids/{b.id}/letter").status_code == 404
    mine = text(beta.get("/account/bids"))
    assert 'data-bid-status="awarded"' in mine and "€500,000.00" in mine and "Contracts (lots awarded to you)" in mine
    assert "No lot is awarded to you yet" not in mine


def test_anonymous_visitors_read_the_award_notice_and_nothing_of_the_bids(new_client, db, world, clock):
    draft = make_call(db, world, publish=False, title="Brouillon secret")
    call, a, b = awarded_call(new_client, db, world, clock)
    anonymous = english(new_client())
    page = anonymous.get(f"/calls/{call.id}")
    assert page.status_code == 200
    page = text(page)
    assert "Lot 1 is awarded to Société Beta for €500,000.00" in page
    assert BIDDER not in page and "450,000" not in page and "Bids and evaluation" not in page
    listed = text(anonymous.get("/calls?status=awarded"))
    assert call.title in listed
    assert anonymous.get(f"/calls/{draft.id}").status_code == 404
    assert "Brouillon secret" not in text(anonymous.get("/calls?status="))


def test_the_receipt_downloads_as_a_pdf_with_its_fingerprint(new_client, db, world):
    call = make_call(db, world)
    alpha = english(new_client(), "alpha@x.fr")
    bid_form(alpha, call, call.lots[0].id, "450000")
    (placed,) = bids(db)
    assert f"/bids/{placed.id}/receipt.pdf" in text(alpha.get(f"/bids/{placed.id}/receipt"))
    response = alpha.get(f"/bids/{placed.id}/receipt.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-") and "attachment" in response.headers["Content-Disposition"]
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", response.data, re.S)
    shown = b"".join(zlib.decompress(stream) for stream in streams if stream[:1] == b"x")
    assert placed.receipt_sha256.encode() in shown and b"Bid receipt" in shown


def test_the_coordinator_scores_every_bid_of_a_lot_in_one_form(new_client, db, world, clock):
    call = make_call(db, world)
    lot_id = call.lots[0].id
    bid_form(english(new_client(), "alpha@x.fr"), call, lot_id, "450000")
    bid_form(english(new_client(), "beta@x.fr"), call, lot_id, "500000")
    a, b = bids(db)
    clock.move_to(DEADLINE + timedelta(hours=1))
    coord = english(new_client(), "coord@x.fr")
    page = text(coord.get(f"/calls/{call.id}"))
    assert page.count(f'form="scores-lot-{lot_id}"') == 4  # two criteria scored by hand × two bids, one form
    url, page_url = f"/calls/{call.id}/lots/{lot_id}/scores", f"/calls/{call.id}"
    out_of_range = post(coord, url, {f"score-{a.id}-technical": "60", f"score-{b.id}-technical": "120"}, page=page_url)
    assert out_of_range.status_code == 400 and "A score from 0 to 100." in text(out_of_range)
    unreadable = post(coord, url, {f"score-{a.id}-technical": "60", f"score-{b.id}-technical": "douze"}, page=page_url)
    assert unreadable.status_code == 400 and 'value="douze"' in text(unreadable)  # kept on its field
    assert all(not x.scores for x in bids(db))  # all or nothing: bid a's valid score was not saved either
    scores = {
        f"score-{a.id}-technical": "60",
        f"score-{a.id}-environmental": "50",
        f"score-{b.id}-technical": "90",
        f"score-{b.id}-environmental": "50",
    }
    saved = post(coord, url, scores, page=page_url)
    assert saved.status_code == 302
    assert "The scores of 2 bids are saved." in text(coord.get(saved.headers["Location"]))
    assert {x.id: sorted((s.criterion, s.score) for s in x.scores) for x in bids(db)} == {
        a.id: [("environmental", 50), ("technical", 60)],
        b.id: [("environmental", 50), ("technical", 90)],
    }
    assert db.session.get(type(a), a.id).lot.call.status == "evaluated"
    member = english(new_client(), "member@x.fr")
    assert post(member, url, scores, page=page_url).status_code == 403


def test_an_award_asked_before_the_deadline_names_no_bid_and_is_refused(new_client, db, world, clock):
    call = make_call(db, world)
    bid_form(english(new_client(), "alpha@x.fr"), call, call.lots[0].id, "450000")
    (placed,) = bids(db)
    coord = english(new_client(), "coord@x.fr")
    response = post(coord, f"/calls/{call.id}/awards", {"lot_id": call.lots[0].id, "bid_id": placed.id}, page="/")
    assert response.status_code == 409  # no confirmation page that would name the sealed bid: the service refuses
    # the amount in any of its written forms (450000, 450,000.00, 450 000 €); a bare "450" may be part of a random id
    assert BIDDER not in text(response) and not re.search(r"450\D?000", text(response))


def test_my_bids_page_does_not_query_per_bid_or_contract(new_client, db, world, clock, query_counter):
    from app.accounts.models import User
    from tests import factories

    calls = [make_call(db, world, title=f"Appel {n}") for n in range(3)]
    users = {u.email: u for u in db.session.scalars(sa.select(User).where(User.role == "supplier"))}
    factories.bid(users["alpha@x.fr"], calls[0], "400000.00")
    for call in calls:
        factories.bid(users["beta@x.fr"], call, "450000.00")
    db.session.commit()
    clock.move_to(DEADLINE + timedelta(hours=1))
    for call in calls:
        factories.award_every_lot(world["coordinator"], call)
    db.session.commit()
    counts = {}
    for email in ("alpha@x.fr", "beta@x.fr"):  # one bid, one award; three bids, two awards and one letter
        client = english(new_client(), email)
        client.get("/account/bids")  # warm up
        with query_counter() as count:
            page = client.get("/account/bids")
        assert page.status_code == 200
        counts[email] = count.value
    assert 'data-bid-status="unsuccessful"' in text(page) and text(page).count('data-bid-status="awarded"') == 2
    assert counts["beta@x.fr"] == counts["alpha@x.fr"]


def test_the_coordinators_call_page_sends_as_many_statements_for_eight_bids_as_for_two(
    new_client, db, world, clock, query_counter
):
    """After the deadline the call page ranks the bids with their suppliers, scores, notes and the suppliers'
    records: loaded with the bids, not per bid."""
    from tests import factories

    calls = []
    for size in (2, 8):
        call = make_call(db, world, title=f"Appel {size}")
        for n in range(size):
            company = factories.supplier_company(name=f"Fournisseur {size}-{n}", trades=("09310000",))
            factories.bid(factories.user("supplier", supplier=company), call, f"{400000 + n}.00")
        calls.append(call.id)
    db.session.commit()
    clock.move_to(DEADLINE + timedelta(hours=1))
    coord = english(new_client(), "coord@x.fr")
    counts = []
    for call_id, size in zip(calls, (2, 8), strict=True):
        coord.get(f"/calls/{call_id}")  # the first reader after the deadline closes the call
        with query_counter() as count:
            page = coord.get(f"/calls/{call_id}")
        assert page.status_code == 200
        assert text(page).count("<tr data-bid=") == size
        counts.append(count.value)
    assert counts[0] == counts[1], counts
