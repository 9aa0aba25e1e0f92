"""The pages of the opening committee: enrolment, the opening after the deadline, the receipt given once to the
bidder, and the printable opening record in French."""

import html
import io
import re
import zlib
from datetime import timedelta

import pytest

from app.calls import services
from app.calls.models import Call
from tests import factories
from tests.conftest import csrf_from, login
from tests.factories import CALLS_DEADLINE as DEADLINE

PASSPHRASES = {
    "coord@x.fr": "le chêne et le roseau 1668",
    "member@x.fr": "la cigale ayant chanté tout l'été",
    "member2@x.fr": "maître corbeau sur un arbre perché",
}


@pytest.fixture
def world(db, clock):
    group, orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord@x.fr"
    factories.user("buyer", email="member@x.fr", organization_=orgs[1])
    factories.user("buyer", email="member2@x.fr", organization_=orgs[0])
    company = factories.supplier_company(trades=("09310000",), postcode="21000", name="Société Alpha")
    factories.user("supplier", email="alpha@x.fr", supplier=company)
    db.session.commit()
    call = factories.call(coordinator, group)
    services.committee.name_committee(db.session, call, group, list(PASSPHRASES), 2)
    db.session.commit()
    return {"call": call, "coordinator": coordinator}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True)).replace("\u202f", " ").replace("\xa0", " ")


def give(client, call: Call, passphrase: str):
    page = client.get(f"/calls/{call.id}/committee")
    token = csrf_from(page.get_data(as_text=True))
    return client.post(f"/calls/{call.id}/committee", data={"csrf_token": token, "committee-passphrase": passphrase})


def test_members_enrol_on_the_page_then_a_quorum_opens_and_the_record_prints_in_french(new_client, db, world, clock):
    call = world["call"]
    members = {}
    for email, passphrase in PASSPHRASES.items():
        members[email] = new_client()
        login(members[email], email)
        assert give(members[email], call, passphrase).status_code == 302
    page = text(members["coord@x.fr"].get(f"/calls/{call.id}/committee"))
    assert "Commission d’ouverture" in page and page.count("pas encore") == 0
    services.publish_call(db.session, world["coordinator"], db.session.get(Call, call.id))
    db.session.commit()

    alpha = new_client()
    login(alpha, "alpha@x.fr")
    detail = alpha.get(f"/calls/{call.id}")
    token = csrf_from(detail.get_data(as_text=True))
    lot = call.lots[0].id
    receipt = alpha.post(
        f"/calls/{call.id}/bids",
        data={"csrf_token": token, "lot_id": str(lot), f"bid-{lot}-amount": "4 321 987,65"},
    )
    shown = text(receipt)
    assert receipt.status_code == 200 and "4 321 987,65 €" in shown and 'id="keep-receipt"' in shown
    assert "data:application/json" in shown  # the receipt to download, given once
    again = alpha.get(f"/bids/{services.list_bids(db.session, alpha_user(db), call)[0].id}/receipt")
    assert "4 321 987,65" not in text(again) and 'id="sealed-receipt"' in text(again)
    sealed_pdf = alpha.get(f"/bids/{services.list_bids(db.session, alpha_user(db), call)[0].id}/receipt.pdf")
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", sealed_pdf.data, re.S)
    printed = b"".join(zlib.decompress(stream) for stream in streams if stream[:1] == b"x")
    assert sealed_pdf.status_code == 200 and b"commission" in printed  # the PDF says the content is sealed
    assert b"4 321 987,65" not in printed and b"None" not in printed

    clock.move_to(DEADLINE + timedelta(minutes=2))
    for email in PASSPHRASES:
        login(members[email], email)
    coordinator = members["coord@x.fr"]
    waiting = text(coordinator.get(f"/calls/{call.id}"))
    assert 'id="awaiting-opening"' in waiting and "4 321 987,65" not in waiting
    assert coordinator.get(f"/calls/{call.id}/opening-record").status_code == 409

    wrong = give(members["member@x.fr"], call, "pas la bonne phrase du tout")
    assert wrong.status_code == 400 and "Cette phrase secrète n’ouvre pas votre part." in text(wrong)
    assert give(members["member@x.fr"], call, PASSPHRASES["member@x.fr"]).status_code == 302
    assert coordinator.get(f"/calls/{call.id}/opening-record").status_code == 409  # one member: no quorum
    assert give(members["member2@x.fr"], call, PASSPHRASES["member2@x.fr"]).status_code == 302

    record = coordinator.get(f"/calls/{call.id}/opening-record")
    page = text(record)
    assert record.status_code == 200 and "Procès-verbal d’ouverture des plis" in page
    assert page.count('class="opened-bid"') == 1 and "Société Alpha" in page and "4 321 987,65 €" in page
    assert "membres de la commission d’ouverture" in page
    evaluation = text(coordinator.get(f"/calls/{call.id}"))
    assert "4 321 987,65" in evaluation


def alpha_user(db):
    from app.accounts.models import User

    return db.session.query(User).filter_by(email="alpha@x.fr").one()


def test_the_committee_page_is_for_the_group_only_and_the_form_for_members(new_client, db, world):
    call = world["call"]
    supplier = new_client()
    login(supplier, "alpha@x.fr")
    assert supplier.get(f"/calls/{call.id}/committee").status_code == 403
    coordinator = new_client()
    login(coordinator, "coord@x.fr")
    page = text(coordinator.get(f"/calls/{call.id}/committee"))
    assert 'id="passphrase-form"' in page
    plain = factories.call(world["coordinator"], call.group)
    db.session.commit()
    assert coordinator.get(f"/calls/{plain.id}/committee").status_code == 404  # no committee


def test_a_bid_on_the_page_carries_its_documents_checked_by_content(new_client, db, world):
    plain = factories.call(world["coordinator"], world["call"].group, publish=True)
    db.session.commit()
    alpha = new_client()
    login(alpha, "alpha@x.fr")
    lot = plain.lots[0].id

    def send(files: dict):
        token = csrf_from(alpha.get(f"/calls/{plain.id}").get_data(as_text=True))
        data = {"csrf_token": token, "lot_id": str(lot), f"bid-{lot}-amount": "1 000,00"}
        data.update({f"bid-{lot}-{kind}": (io.BytesIO(content), name) for kind, (name, content) in files.items()})
        return alpha.post(f"/calls/{plain.id}/bids", data=data, content_type="multipart/form-data")

    refused = send({"price_schedule": ("bpu.xlsx", b"%PDF-1.4 not a spreadsheet")})
    assert refused.status_code == 400
    assert "Ce type de document accepte les fichiers XLSX" in text(refused)
    placed = send({"technical_proposal": ("memoire.pdf", b"%PDF-1.4\n%%EOF\n")})
    assert placed.status_code == 302
    (bid,) = services.list_bids(db.session, alpha_user(db), plain)
    assert [(d.kind, d.filename) for d in bid.documents] == [("technical_proposal", "memoire.pdf")]
