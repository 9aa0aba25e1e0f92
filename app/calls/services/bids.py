"""Sealed bids: submitting (or replacing) a bid with its receipt, reading, withdrawing and listing bids.

The bid deadline is enforced in every request with the server clock (`utcnow()`): a stopped scheduler can delay
a notification, never let a late bid in. Before the deadline nobody but the bidder learns anything about any bid:
no page, API answer, export, notification or log line says whether bids exist.
"""

from __future__ import annotations

import hashlib
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import filetype
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, joinedload, selectinload

from app import effects
from app.audit.services import record
from app.calls.models import BID_DOCUMENT_KINDS, Bid, BidDocument, Call
from app.calls.services import sealing
from app.calls.services.access import require_supplier, visible_calls
from app.calls.services.deadlines import ensure_closed
from app.clock import utcnow
from app.db import CENT
from app.domain.receipts import receipt_content, sha256_hex
from app.domain.text import N_
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.i18n import instant
from app.notifications.services import notify

# What each kind of bid document may be (by its content, and its name's extension matching it).
DOCUMENT_TYPES = {
    "technical_proposal": ("pdf", "odt", "docx"),
    "price_schedule": ("xlsx",),
    "declaration": ("pdf", "odt", "docx", "xml"),  # DC1/DC2 forms, or the DUME/ESPD as its XML file
}
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "odt": "application/vnd.oasis.opendocument.text",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xml": "application/xml",
}
MAX_BID_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_BID_DOCUMENTS_BYTES = 12 * 1024 * 1024  # all of a bid's documents (the request limit is 20 MB)
MAX_BID_DOCUMENTS = 10

MSG_BID_RECEIVED = N_("Your bid on “%(call)s”, lot %(lot)s, was received at %(at)s (UTC). Receipt SHA-256: %(sha)s")


@dataclass
class BidValues:
    lot_id: int
    amount: Decimal
    technical_note: str = ""
    environmental_note: str = ""
    delivery_distance_km: Decimal | None = None
    documents: list[DocumentInput] = field(default_factory=list)


@dataclass
class DocumentInput:
    kind: str
    filename: str
    data: bytes


def _document_type(kind: str, name: str, data: bytes) -> str | None:
    """The document's type when its content is one its kind allows and its name's extension says the same."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    allowed = DOCUMENT_TYPES.get(kind, ())
    if extension == "xml" and "xml" in allowed:
        head = data[:512].lstrip(b"\xef\xbb\xbf").lstrip()
        if not head.startswith(b"<") or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            return None
        try:
            ET.fromstring(data)  # noqa: S314 - no DTD nor entity (refused above)
        except ET.ParseError:
            return None
        return "xml"
    guessed = filetype.guess(data)
    if guessed is None or guessed.extension not in allowed or guessed.extension != extension:
        return None
    return guessed.extension


def _check_documents(documents: list[DocumentInput]) -> tuple[dict, list[tuple[DocumentInput, str, str]]]:
    reasons: dict[str, list[str]] = {}
    checked = []
    if len(documents) > MAX_BID_DOCUMENTS:
        reasons["documents"] = [str(_l("At most %(n)d documents.", n=MAX_BID_DOCUMENTS))]
    if sum(len(d.data or b"") for d in documents) > MAX_BID_DOCUMENTS_BYTES:
        reasons["documents"] = [
            str(_l("The documents together are larger than %(mb)d MB.", mb=MAX_BID_DOCUMENTS_BYTES // 2**20))
        ]
    for index, document in enumerate(documents):
        key = f"documents.{index}"
        name = Path(document.filename or "").name.strip()[:200]
        if document.kind not in BID_DOCUMENT_KINDS:
            reasons[f"{key}.kind"] = [str(_l("One of: %(kinds)s.", kinds=", ".join(BID_DOCUMENT_KINDS)))]
            continue
        if not document.data:
            reasons[f"{key}.file"] = [str(_l("The file is empty."))]
            continue
        if len(document.data) > MAX_BID_DOCUMENT_BYTES:
            reasons[f"{key}.file"] = [str(_l("The file is larger than %(mb)d MB.", mb=MAX_BID_DOCUMENT_BYTES // 2**20))]
            continue
        kind = _document_type(document.kind, name, document.data)
        if kind is None:
            reasons[f"{key}.file"] = [
                str(
                    _l(
                        "This kind of document accepts %(types)s files, and the name must match the content.",
                        types=", ".join(t.upper() for t in DOCUMENT_TYPES[document.kind]),
                    )
                )
            ]
            continue
        checked.append((document, name, kind))
    return reasons, checked


def _refuse_if_closed(call: Call, now: datetime) -> None:
    if not call.is_open_for_bids(now):
        raise Conflict(
            "call_closed",
            str(
                _l(
                    "Bids on this call closed on %(deadline)s (Paris time).",
                    deadline=instant(call.bid_deadline),
                )
            ),
        )


def _same_request(bid: Bid, call: Call, values: BidValues) -> bool:
    """Whether a retried submission asks for what the bid already holds (amounts compared as numbers)."""
    return (
        bid.call_id == call.id
        and bid.lot_id == values.lot_id
        and bid.amount == values.amount
        and bid.technical_note == (values.technical_note or "")
        and bid.environmental_note == (values.environmental_note or "")
        and bid.delivery_distance_km == values.delivery_distance_km
    )


def _request(call: Call, values: BidValues) -> dict:
    """The request as the idempotency check compares it (documents by their hash)."""
    distance = values.delivery_distance_km
    return {
        "call_id": call.id,
        "lot_id": values.lot_id,
        "amount_eur": f"{values.amount:.2f}"
        if isinstance(values.amount, Decimal) and values.amount.is_finite()
        else "",
        "technical_note": values.technical_note or "",
        "environmental_note": values.environmental_note or "",
        "delivery_distance_km": None if distance is None else f"{Decimal(distance):.1f}",
        "documents": [[d.kind, d.filename, hashlib.sha256(d.data or b"").hexdigest()] for d in values.documents],
    }


def _replay(earlier: Bid, call: Call, values: BidValues, now: datetime, key: str) -> Bid:
    """The first result of a retried submission: only for the same request, never after the deadline, and never
    for a bid since withdrawn (its receipt would tell of a bid that is no longer there)."""
    if earlier.request_digest is not None:
        same = earlier.call_id == call.id and secrets.compare_digest(
            earlier.request_digest, sealing.request_digest(key, _request(call, values))
        )
    else:  # a bid stored in clear, before sealing
        same = _same_request(earlier, call, values)
    if not same:
        raise Conflict(  # its status is 422 (errors.CODE_STATUS)
            "idempotency_key_mismatch",
            str(_l("This Idempotency-Key was already used for another request: send this one with a new key.")),
        )
    _refuse_if_closed(call, now)
    if earlier.status == "withdrawn":
        raise Conflict(
            "bid_withdrawn",
            str(_l("The bid sent with this Idempotency-Key was withdrawn; to bid again, use a new Idempotency-Key.")),
        )
    sealing.reveal_own(call, [earlier])
    return earlier


def _audit_bid(session: Session, actor, kind: str, bid: Bid, lot) -> None:
    """Ids, the lot and the receipt's hash: never the amount, sealed until the deadline."""
    record(session, actor, kind, bid, call_id=bid.call_id, lot_id=lot.id, lot=lot.number, receipt=bid.receipt_sha256)


def submit_bid(
    session: Session, actor, call: Call, values: BidValues, *, idempotency_key: str | None = None
) -> tuple[Bid, bool]:
    """Submit (or replace) the supplier's bid on one lot; returns (bid, created). A retried Idempotency-Key with the
    same request returns the first result instead of a second bid; with another request it is refused (422)."""
    company = require_supplier(actor)
    key = (idempotency_key or "").strip() or None
    now = utcnow()
    if key is not None:
        if len(key) > 200:
            raise ValidationFailed({"Idempotency-Key": [str(_l("At most %(n)d characters.", n=200))]})
        earlier = session.scalar(
            sa.select(Bid).where(Bid.supplier_id == company.id, Bid.idempotency_key == sealing.key_digest(key))
        )
        if earlier is not None:
            return _replay(earlier, call, values, now, key), False
    _refuse_if_closed(call, now)
    lot = next((lot for lot in call.lots if lot.id == values.lot_id), None)
    reasons: dict[str, list[str]] = {}
    if lot is None:
        reasons["lot_id"] = [str(_l("This lot is not part of the call."))]
    amount = values.amount
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        reasons["amount_eur"] = [str(_l("The amount must be greater than zero."))]
    elif amount != amount.quantize(CENT):
        reasons["amount_eur"] = [str(_l("Amounts have at most two decimals (cents)."))]
    distance = values.delivery_distance_km
    if distance is not None and (not isinstance(distance, Decimal) or distance < 0 or distance > 20000):
        reasons["delivery_distance_km"] = [str(_l("A distance in km between 0 and 20 000."))]
    for name in ("technical_note", "environmental_note"):
        if len(getattr(values, name) or "") > 20000:
            reasons[name] = [str(_l("At most %(n)d characters.", n=20000))]
    document_reasons, documents = _check_documents(values.documents)
    reasons.update(document_reasons)
    if reasons:
        raise ValidationFailed(reasons)
    sealing.ensure_call_key(call)
    replaced = session.execute(
        sa.update(Bid)
        .where(Bid.supplier_id == company.id, Bid.lot_id == lot.id, Bid.status == "active")
        .values(status="replaced")
    ).rowcount
    stored = _store_documents(session, call, documents)
    content = receipt_content(
        call_id=call.id,
        lot_id=lot.id,
        supplier_siret=company.siret,
        amount=amount,
        technical_note=values.technical_note,
        environmental_note=values.environmental_note,
        delivery_distance_km=distance,
        submitted_at=now,
        documents=[(d["filename"], d["sha256"]) for d in stored],
        nonce=secrets.token_hex(16),
    )
    sealed = {
        "amount_eur": f"{amount:.2f}",
        "technical_note": values.technical_note or "",
        "environmental_note": values.environmental_note or "",
        "delivery_distance_km": None if distance is None else f"{distance:.1f}",
        "receipt_content": content,
        "documents": stored,
    }
    bid = Bid(
        call_id=call.id,
        lot_id=lot.id,
        supplier_id=company.id,
        submitted_by_id=actor.id,
        amount=None,
        technical_note="",
        environmental_note="",
        delivery_distance_km=None,
        submitted_at=now,
        receipt_content=None,
        receipt_sha256=sha256_hex(content),
        idempotency_key=None if key is None else sealing.key_digest(key),
        request_digest=None if key is None else sealing.request_digest(key, _request(call, values)),
        documents=[
            BidDocument(position=index, kind=d["kind"], storage_key=d["storage_key"]) for index, d in enumerate(stored)
        ],
    )
    sealing.seal_bid(bid, call, sealed)
    session.add(bid)
    session.flush()
    sealing.show_values(bid, sealed)  # the bidder's own request shows what it sent (nothing written in clear)
    _audit_bid(session, actor, "bid.replaced" if replaced else "bid.submitted", bid, lot)
    notify(
        session,
        [actor],
        "bid_received",
        MSG_BID_RECEIVED,
        {"call": call.title, "lot": lot.number, "at": now.strftime("%Y-%m-%d %H:%M:%S"), "sha": bid.receipt_sha256},
        f"/bids/{bid.id}",
        mail=False,
    )
    return bid, True


def _store_documents(session: Session, call: Call, documents) -> list[dict]:
    """Each document's file sealed to the call's key under a random name; its details go into the sealed content."""
    folder = sealing.upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    for document, name, kind in documents:
        key = secrets.token_hex(16)
        path = folder / key
        path.write_bytes(sealing.seal_file(call, document.data))
        effects.on_rollback(session, lambda path=path: path.unlink(missing_ok=True), f"remove the bid file {key}")
        stored.append(
            {
                "storage_key": key,
                "kind": document.kind,
                "filename": name,
                "content_type": CONTENT_TYPES[kind],
                "size": len(document.data),
                "sha256": hashlib.sha256(document.data).hexdigest(),
            }
        )
    return stored


def get_bid(session: Session, actor, bid_id: int) -> Bid:
    """A supplier reads its own bids only; others only once the deadline has passed. Anyone else gets the same
    "not found" whether the bid exists or not, so ids cannot be probed to count bids."""
    bid = session.get(Bid, bid_id)
    missing = NotFound(str(_l("This bid does not exist.")))
    if bid is None:
        raise missing
    if actor.role == "supplier":
        if bid.supplier_id != actor.supplier_id:
            raise missing
        sealing.reveal_own(session.get(Call, bid.call_id), [bid])
        return bid
    call = session.scalar(visible_calls(actor).where(Call.id == bid.call_id))
    if call is None or not bids_unsealed(call):
        raise missing
    ensure_closed(session, call)
    sealing.require_opened(call)
    return bid


def bids_unsealed(call: Call) -> bool:
    """The deadline has passed on a call that was published: its bids may be read by those who evaluate them."""
    return call.deadline_passed(utcnow()) and call.status not in ("draft", "cancelled")


def require_unsealed(call: Call) -> None:
    """Refuse (bids_sealed) to show anything about the bids of a call before its deadline."""
    if not bids_unsealed(call):
        raise NotPermitted(str(_l("Bids are sealed until the deadline.")), code="bids_sealed")


def withdraw_bid(session: Session, actor, bid_id: int) -> Bid:
    company = require_supplier(actor)
    bid = session.get(Bid, bid_id)
    if bid is None or bid.supplier_id != company.id:
        raise NotFound(str(_l("This bid does not exist.")))
    call = session.get(Call, bid.call_id)
    _refuse_if_closed(call, utcnow())
    if bid.status != "active":
        raise Conflict("bid_not_active", str(_l("This bid was already replaced or withdrawn.")))
    bid.status, bid.withdrawn_at = "withdrawn", utcnow()
    session.flush()
    _audit_bid(session, actor, "bid.withdrawn", bid, bid.lot)
    return bid


def list_bids(session: Session, actor, call: Call, documents: bool = True) -> list[Bid]:
    """A supplier: its own bids (every version). Anyone else: the active bids, only after the deadline; with their
    documents unless `documents` is false (the call page lists none)."""
    if actor.role == "supplier":
        own = list(
            session.scalars(
                sa.select(Bid)
                .options(selectinload(Bid.documents))
                .where(Bid.call_id == call.id, Bid.supplier_id == actor.supplier_id)
                .order_by(Bid.lot_id, Bid.submitted_at.desc())
            )
        )
        sealing.reveal_own(call, own)
        return own
    require_unsealed(call)
    ensure_closed(session, call)
    sealing.require_opened(call)
    # what each listed bid shows comes with the bids, no statement per bid: its supplier (the relationship is
    # joined) and its scores (a few rows per bid) in the same statement, its documents in one more
    options = [joinedload(Bid.scores), selectinload(Bid.documents)] if documents else [joinedload(Bid.scores)]
    return list(
        session.scalars(
            sa.select(Bid)
            .options(*options)
            .where(Bid.call_id == call.id, Bid.status == "active")
            .order_by(Bid.lot_id, Bid.amount, Bid.submitted_at)
        ).unique()
    )
