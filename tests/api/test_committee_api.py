"""Bids opened by a committee: contents sealed at rest until two of the three members give their passphrase after
the deadline; the opening record; scoring only after the opening; every step in the audit trail."""

import base64
import io
import json
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from app.audit.chain import verify
from app.audit.models import AuditEvent
from app.audit.services import chain_in_order
from app.calls.models import Bid, Call, CommitteeMember
from tests import factories
from tests.conftest import api_token
from tests.factories import CALLS_DEADLINE as DEADLINE

from .test_calls_api import CALL

PASSPHRASES = {
    "coord": "le chêne et le roseau 1668",
    "member": "la cigale ayant chanté tout l'été",
    "member2": "maître corbeau sur un arbre perché",
}


@pytest.fixture
def marks():
    """Contents of this test's bids, found nowhere else (the upload folder and a database file outlive a test)."""
    alpha = secrets.randbelow(10**6) + 2 * 10**6  # seven digits, beta too
    return {
        "alpha": f"{alpha}.19",
        "beta": f"{alpha - 54321}.42",
        "alpha_fr": f"{alpha},19",
        "technical": f"Note-technique-{secrets.token_hex(6)}",
        "environmental": f"Note-env-{secrets.token_hex(6)}",
        "pdf": f"Proposition-PDF-{secrets.token_hex(6)}",
        "xlsx": f"Bordereau-{secrets.token_hex(6)}",
    }


@pytest.fixture
def world(db, clock):
    group, orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord@x.fr"
    factories.user("buyer", email="member@x.fr", organization_=orgs[1])
    factories.user("buyer", email="member2@x.fr", organization_=orgs[0])
    factories.user("buyer", email="outsider@x.fr", organization_=factories.organization("OUT"))
    factories.user("admin", email="admin@x.fr")
    for name, postcode in (("alpha", "21000"), ("beta", "71100")):
        company = factories.supplier_company(trades=("09310000",), postcode=postcode, name=f"Société {name}")
        factories.user("supplier", email=f"{name}@x.fr", supplier=company)
    db.session.commit()
    return {"group": group}


def tokens(client, *names):
    return {name: api_token(client, f"{name}@x.fr") for name in names}


def committee_call(client, world, t, **extra):
    body = {**CALL, "opening_committee": ["coord@x.fr", "member@x.fr", "member2@x.fr"], "opening_quorum": 2}
    response = client.post(f"/api/v1/groups/{world['group'].id}/calls", json={**body, **extra}, headers=t["coord"])
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def enrol(client, call, headers, passphrase):
    return client.post(f"/api/v1/calls/{call['id']}/committee/enrol", json={"passphrase": passphrase}, headers=headers)


def open_with(client, call, headers, passphrase):
    return client.post(f"/api/v1/calls/{call['id']}/opening", json={"passphrase": passphrase}, headers=headers)


def pdf_bytes(marker: str) -> bytes:
    return b"%PDF-1.4\n1 0 obj <<>> stream\n" + marker.encode() + b"\nendstream endobj\ntrailer <<>>\n%%EOF\n"


def xlsx_bytes(marker: str) -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["Poste", "Prix unitaire HT"])
    book.active.append([marker, 12.5])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def document(kind: str, filename: str, data: bytes) -> dict:
    return {"kind": kind, "filename": filename, "content_base64": base64.b64encode(data).decode()}


def bid_body(call, amount, **extra):
    return {"lot_id": call["lots"][0]["id"], "amount_eur": amount, **extra}


def scan_database_and_files(db, folder: Path, marks: dict) -> set[str]:
    """Every secret found in any column of any table, and in any file of the upload folder (and the SQLite files)."""
    found = set()
    db.session.commit()
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                for value in row:
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    found |= {s for s in marks.values() if s in text}
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found |= {s for s in marks.values() if s.encode() in data}
    if db.engine.url.get_backend_name() == "sqlite" and db.engine.url.database:
        # The database's own files (free pages included), read by another process: closing a descriptor of a SQLite
        # file in this process would drop the locks SQLite holds on it (POSIX advisory locks are per process).
        files = [db.engine.url.database + suffix for suffix in ("", "-wal")]
        script = (
            "import json, os, sys; marks = json.loads(sys.argv[1]); "
            "data = b''.join(open(f, 'rb').read() for f in sys.argv[2:] if os.path.exists(f)); "
            "print(json.dumps([m for m in marks if m.encode() in data]))"
        )
        result = subprocess.run(  # noqa: S603 - this interpreter, our own script
            [sys.executable, "-c", script, json.dumps(list(marks.values())), *files],
            capture_output=True,
            text=True,
            check=True,
        )
        found |= set(json.loads(result.stdout))
    return found


def ready_call(client, world, t):
    """A committee call, every member enrolled, published."""
    call = committee_call(client, world, t)
    for name in ("coord", "member", "member2"):
        assert enrol(client, call, t[name], PASSPHRASES[name]).status_code == 200
    assert client.post(f"/api/v1/calls/{call['id']}/publish", headers=t["coord"]).status_code == 200
    return call


def test_committee_fields_are_optional_and_checked(client, world, db):
    t = tokens(client, "coord")
    plain = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=CALL, headers=t["coord"])
    assert plain.status_code == 201 and plain.get_json()["opening_quorum"] is None
    two = {**CALL, "opening_committee": ["coord@x.fr", "member@x.fr"]}
    refused = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=two, headers=t["coord"])
    assert refused.status_code == 400 and "opening_committee" in refused.get_json()["error"]["details"]["fields"]
    outsider = {**CALL, "opening_committee": ["coord@x.fr", "member@x.fr", "outsider@x.fr"]}
    refused = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=outsider, headers=t["coord"])
    assert refused.status_code == 400
    assert "opening_committee.2" in refused.get_json()["error"]["details"]["fields"]
    bad_quorum = {**CALL, "opening_committee": ["coord@x.fr", "member@x.fr", "member2@x.fr"], "opening_quorum": 3}
    refused = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=bad_quorum, headers=t["coord"])
    assert refused.status_code == 400 and "opening_quorum" in refused.get_json()["error"]["details"]["fields"]


def test_publication_waits_for_every_member_and_enrolment_closes_at_publication(client, world, db):
    t = tokens(client, "coord", "member", "member2", "outsider")
    call = committee_call(client, world, t)
    assert call["opening_quorum"] == 2
    assert enrol(client, call, t["outsider"], "une phrase assez longue").status_code == 404  # not its call
    assert enrol(client, call, t["member"], "court").status_code == 400
    assert enrol(client, call, t["coord"], PASSPHRASES["coord"]).status_code == 200
    assert enrol(client, call, t["member"], PASSPHRASES["member"]).status_code == 200
    waiting = client.post(f"/api/v1/calls/{call['id']}/publish", headers=t["coord"])
    assert waiting.status_code == 409 and waiting.get_json()["error"]["code"] == "committee_not_enrolled"
    assert enrol(client, call, t["member2"], PASSPHRASES["member2"]).status_code == 200
    assert client.post(f"/api/v1/calls/{call['id']}/publish", headers=t["coord"]).status_code == 200
    late = enrol(client, call, t["member2"], "une autre phrase secrète")
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "call_not_draft"
    members = db.session.scalars(sa.select(CommitteeMember).where(CommitteeMember.call_id == call["id"])).all()
    assert len(members) == 3 and all(m.sealed_share and m.wrapped_private_key for m in members)
    stored = db.session.get(Call, call["id"])
    assert stored.public_key and stored.server_wrapped_key is None  # the private key is stored nowhere


def test_sealed_until_a_quorum_opens_then_scoring_ranking_and_the_record(client, world, db, clock, app, marks):
    t = tokens(client, "coord", "member", "member2", "alpha", "beta", "admin")
    call = ready_call(client, world, t)
    first = client.post(
        f"/api/v1/calls/{call['id']}/bids", json=bid_body(call, "800000.00", technical_note="v1"), headers=t["alpha"]
    )
    assert first.status_code == 201
    documents = [
        document("technical_proposal", "memoire.pdf", pdf_bytes(marks["pdf"])),
        document("price_schedule", "bpu.xlsx", xlsx_bytes(marks["xlsx"])),
    ]
    placed = client.post(
        f"/api/v1/calls/{call['id']}/bids",
        json=bid_body(
            call,
            marks["alpha"],
            technical_note=marks["technical"],
            environmental_note=marks["environmental"],
            documents=documents,
        ),
        headers=t["alpha"],
    )
    assert placed.status_code == 201, placed.get_json()
    receipt = placed.get_json()
    content = json.loads(receipt["receipt_content"])
    assert content["amount_eur"] == marks["alpha"] and [d["filename"] for d in content["documents"]] == [
        "memoire.pdf",
        "bpu.xlsx",
    ]
    beta = client.post(f"/api/v1/calls/{call['id']}/bids", json=bid_body(call, marks["beta"]), headers=t["beta"])
    assert beta.status_code == 201

    # Nothing of the contents anywhere in the database or the file store.
    assert scan_database_and_files(db, Path(app.config["UPLOAD_FOLDER"]), marks) == set()
    # The bidder sees its bid, sealed: no amount, the hash of its receipt.
    own = client.get(f"/api/v1/bids/{receipt['id']}", headers=t["alpha"]).get_json()
    assert own["amount_eur"] is None and own["receipt_sha256"] == receipt["receipt_sha256"]
    technical = own["documents"][0]
    assert technical["kind"] == "technical_proposal" and technical["filename"] is None  # its name is sealed too
    sealed_file = client.get(f"/api/v1/bids/{receipt['id']}/documents/{technical['id']}", headers=t["alpha"])
    assert sealed_file.status_code == 409 and sealed_file.get_json()["error"]["code"] == "bids_not_opened"

    early = open_with(client, call, t["coord"], PASSPHRASES["coord"])
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "call_not_closed"

    clock.move_to(DEADLINE + timedelta(minutes=5))
    t = tokens(client, "coord", "member", "member2", "admin", "alpha")
    for path in ("ranking", "bids"):
        refused = client.get(f"/api/v1/calls/{call['id']}/{path}", headers=t["coord"])
        assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "bids_not_opened"
    score = client.post(
        f"/api/v1/calls/{call['id']}/scores",
        json={"bid_id": receipt["id"], "scores": {"technical": 50, "environmental": 50}},
        headers=t["coord"],
    )
    assert score.status_code == 409 and score.get_json()["error"]["code"] == "bids_not_opened"
    record = client.get(f"/api/v1/calls/{call['id']}/opening-record", headers=t["coord"])
    assert record.status_code == 409

    # A non-member cannot take part; a wrong passphrase is refused, saying nothing more.
    assert open_with(client, call, t["admin"], PASSPHRASES["coord"]).status_code == 403
    wrong = open_with(client, call, t["member"], PASSPHRASES["member2"])
    assert wrong.status_code == 400 and wrong.get_json()["error"]["details"]["fields"] == {
        "passphrase": ["Cette phrase secrète n’ouvre pas votre part."]
    }
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.kind == "opening.refused")) == 1

    # One member is not a quorum.
    given = open_with(client, call, t["member"], PASSPHRASES["member"])
    assert given.status_code == 200 and given.get_json() == {
        "opened": False,
        "given": 1,
        "quorum": 2,
        "opening_record": None,
    }
    assert client.get(f"/api/v1/calls/{call['id']}/ranking", headers=t["coord"]).status_code == 409
    assert scan_database_and_files(db, Path(app.config["UPLOAD_FOLDER"]), marks) == set()

    # The second member opens: the bids are readable, scoring and ranking start.
    opened = open_with(client, call, t["member2"], PASSPHRASES["member2"])
    assert opened.status_code == 200 and opened.get_json()["opened"] is True
    again = open_with(client, call, t["coord"], PASSPHRASES["coord"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "bids_already_opened"
    bids = client.get(f"/api/v1/calls/{call['id']}/bids", headers=t["coord"]).get_json()["items"]
    assert sorted(b["amount_eur"] for b in bids) == [marks["beta"], marks["alpha"]]
    alpha = next(b for b in bids if b["id"] == receipt["id"])
    assert alpha["technical_note"] == marks["technical"]
    assert alpha["receipt_content"] == receipt["receipt_content"]
    assert [d["filename"] for d in alpha["documents"]] == ["memoire.pdf", "bpu.xlsx"]
    download = client.get(f"/api/v1/bids/{receipt['id']}/documents/{alpha['documents'][0]['id']}", headers=t["coord"])
    assert download.status_code == 200 and download.data == pdf_bytes(marks["pdf"])
    download.close()
    stored = db.session.get(Bid, receipt["id"])
    files = [Path(app.config["UPLOAD_FOLDER"]) / "bids" / d.storage_key for d in stored.documents]
    assert marks["pdf"].encode() in files[0].read_bytes()
    assert openpyxl.load_workbook(io.BytesIO(files[1].read_bytes())).active["A2"].value == marks["xlsx"]
    for placed_bid in bids:
        scored = client.post(
            f"/api/v1/calls/{call['id']}/scores",
            json={"bid_id": placed_bid["id"], "scores": {"technical": 50, "environmental": 50}},
            headers=t["coord"],
        )
        assert scored.status_code == 200
    ranked = client.get(f"/api/v1/calls/{call['id']}/ranking", headers=t["coord"]).get_json()["items"][0]["bids"]
    assert [b["amount_eur"] for b in ranked] == [marks["beta"], marks["alpha"]]
    # Opened, the contents are in clear: the scan that found nothing before finds them now.
    assert {marks["alpha"], marks["technical"], marks["pdf"]} <= scan_database_and_files(
        db, Path(app.config["UPLOAD_FOLDER"]), marks
    )

    # The record lists every active bid once (the replaced version of alpha's bid is not one), who opened, when.
    record = client.get(f"/api/v1/calls/{call['id']}/opening-record", headers=t["coord"]).get_json()
    listed = [b for lot in record["record"]["lots"] for b in lot["bids"]]
    assert sorted(b["bid_id"] for b in listed) == sorted(b["id"] for b in bids)
    assert sorted(b["amount_eur_excl_vat"] for b in listed) == [marks["beta"], marks["alpha"]]
    assert len(record["record"]["opened_by"]) == 2 and record["record"]["automatic"] is False
    assert client.get(f"/api/v1/calls/{call['id']}/opening-record", headers=t["alpha"]).status_code == 403

    # Every step is in the audit trail, and the chain verifies.
    kinds = [e.kind for e in chain_in_order(db.session)]
    assert kinds.count("committee.enrolled") == 3
    assert kinds.count("opening.share_given") == 2 and kinds.count("bids.opened") == 1
    assert verify(chain_in_order(db.session)).intact
    trail = " ".join(json.dumps(e.details) for e in chain_in_order(db.session))
    assert not any(s in trail for s in marks.values()) and PASSPHRASES["member"] not in trail


def test_a_lost_passphrase_is_covered_by_the_two_other_members(client, world, db, clock):
    t = tokens(client, "coord", "member", "member2", "alpha")
    call = ready_call(client, world, t)
    assert client.post(f"/api/v1/calls/{call['id']}/bids", json=bid_body(call, "1000.00"), headers=t["alpha"])
    clock.move_to(DEADLINE + timedelta(minutes=1))
    t = tokens(client, "coord", "member2")
    assert open_with(client, call, t["coord"], PASSPHRASES["coord"]).get_json()["opened"] is False
    assert open_with(client, call, t["member2"], PASSPHRASES["member2"]).get_json()["opened"] is True
    ranked = client.get(f"/api/v1/calls/{call['id']}/ranking", headers=t["coord"]).get_json()["items"][0]["bids"]
    assert [b["amount_eur"] for b in ranked] == ["1000.00"]


def test_without_committee_bids_are_sealed_then_opened_at_the_deadline(client, world, db, clock, app, marks):
    t = tokens(client, "coord", "alpha")
    response = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=CALL, headers=t["coord"])
    call = response.get_json()
    assert client.post(f"/api/v1/calls/{call['id']}/publish", headers=t["coord"]).status_code == 200
    body = bid_body(call, marks["alpha"], technical_note=marks["technical"])
    placed = client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers=t["alpha"])
    assert placed.status_code == 201
    assert scan_database_and_files(db, Path(app.config["UPLOAD_FOLDER"]), marks) == set()
    own = client.get(f"/api/v1/bids/{placed.get_json()['id']}", headers=t["alpha"]).get_json()
    assert own["amount_eur"] == marks["alpha"]  # opened in memory for its bidder, under the server key
    clock.move_to(DEADLINE + timedelta(minutes=1))
    t = tokens(client, "coord")
    bids = client.get(f"/api/v1/calls/{call['id']}/bids", headers=t["coord"]).get_json()["items"]
    assert [b["amount_eur"] for b in bids] == [marks["alpha"]]
    record = client.get(f"/api/v1/calls/{call['id']}/opening-record", headers=t["coord"]).get_json()
    assert record["record"]["automatic"] is True
    assert [b["bid_id"] for lot in record["record"]["lots"] for b in lot["bids"]] == [placed.get_json()["id"]]


@pytest.mark.parametrize(
    ("kind", "filename", "data"),
    [
        ("price_schedule", "bpu.pdf", pdf_bytes("x")),  # a price schedule is an XLSX
        ("technical_proposal", "memoire.pdf", b"not a pdf at all"),  # content checked, not the name
        ("declaration", "dume.xml", b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"),  # no DTD
        ("declaration", "dume.xml", b"<espd><unclosed></espd>"),  # well-formed XML only
    ],
)
def test_bid_documents_are_checked_by_content(client, world, db, kind, filename, data):
    t = tokens(client, "coord", "alpha")
    response = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=CALL, headers=t["coord"])
    call = response.get_json()
    client.post(f"/api/v1/calls/{call['id']}/publish", headers=t["coord"])
    body = bid_body(call, "1000.00", documents=[document(kind, filename, data)])
    refused = client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers=t["alpha"])
    assert refused.status_code == 400
    assert "documents.0.file" in refused.get_json()["error"]["details"]["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Bid)) == 0


def test_an_espd_xml_declaration_is_accepted(client, world, db):
    t = tokens(client, "coord", "alpha")
    call = client.post(f"/api/v1/groups/{world['group'].id}/calls", json=CALL, headers=t["coord"]).get_json()
    client.post(f"/api/v1/calls/{call['id']}/publish", headers=t["coord"])
    xml = b'<?xml version="1.0" encoding="UTF-8"?><espd:ESPDResponse xmlns:espd="urn:x"/>'
    body = bid_body(call, "1000.00", documents=[document("declaration", "dume.xml", xml)])
    assert client.post(f"/api/v1/calls/{call['id']}/bids", json=body, headers=t["alpha"]).status_code == 201


def test_passphrase_tries_are_limited_per_member(client, world, db, app):
    t = tokens(client, "coord", "member")
    call = committee_call(client, world, t)
    limit = int(app.config["PASSPHRASE_RATE_LIMIT"].split(" ")[0])
    answers = [enrol(client, call, t["member"], "court").status_code for _ in range(limit + 1)]
    assert answers == [400] * limit + [429]
    assert enrol(client, call, t["coord"], PASSPHRASES["coord"]).status_code == 200  # another member is not slowed
