"""The seal of bids over the models: each call's key pair, bids sealed to it at submission, their opening.

A call gets its key pair at publication. With an opening committee its private key is split two-of-three among the
members (app.calls.services.committee) and never stored; without one, it is kept under the server's master key
(config BID_SEALING_KEY) and the bids are opened automatically when the call closes. Until the opening the database
and the file store hold only ciphertext of a bid's amount, notes, receipt and documents: the clear columns of `Bid`
and `BidDocument` are empty, and are written at the opening. Calls published before sealing existed have no key:
their bids were stored in clear and count as opened.

Key material and bid contents are never logged nor put in the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.audit.services import record
from app.calls.models import Bid, BidDocument, Call, OpeningRecord
from app.clock import PARIS, utcnow
from app.domain import sealing
from app.errors import Conflict, NotFound

log = logging.getLogger(__name__)

BID_FILES = "bids"  # the folder of bid documents under UPLOAD_FOLDER


def server_key() -> bytes:
    """The master key of committee-less calls: BID_SEALING_KEY (hex), or one derived from SECRET_KEY."""
    configured = (current_app.config.get("BID_SEALING_KEY") or "").strip()
    if configured:
        key = bytes.fromhex(configured)
        if len(key) != sealing.KEY_BYTES:
            raise RuntimeError("BID_SEALING_KEY must be 64 hexadecimal characters (32 bytes)")
        return key
    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hashlib.blake2b(secret, digest_size=sealing.KEY_BYTES, person=b"mutualis-bids").digest()


def upload_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"]) / BID_FILES


def kdf_strength() -> str:
    return current_app.config.get("SEALING_KDF", "moderate")


def has_committee(call: Call) -> bool:
    return call.opening_quorum is not None


def bids_opened(call: Call) -> bool:
    """Whether the bids of the call can be read: opened, or never sealed (published before sealing existed)."""
    return call.public_key is None or call.opened_at is not None


def require_opened(call: Call) -> None:
    if not bids_opened(call):
        raise Conflict(
            "bids_not_opened",
            str(_l("The bids are not opened yet: the opening committee opens them after the deadline.")),
        )


def create_call_keys(call: Call) -> bytes:
    """The call's key pair (at publication); returns the private key for the committee to split, or keeps it under
    the server key for a call without committee."""
    pair = sealing.new_key_pair()
    call.public_key = pair.public
    if not has_committee(call):
        call.server_wrapped_key = sealing.secret_wrap(server_key(), pair.private)
    return pair.private


def ensure_call_key(call: Call) -> None:
    """A call published before sealing existed, without a committee, gets its key at its first sealed bid."""
    if call.public_key is None and not has_committee(call) and call.opened_at is None:
        create_call_keys(call)


# --- sealing at submission ------------------------------------------------------------------------------------------


def _canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_digest(idempotency_key: str) -> str:
    """What the database keeps of an Idempotency-Key: its SHA-256 (the key itself is the client's secret)."""
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()


def request_digest(idempotency_key: str, request: dict) -> str:
    """An HMAC of the request under the client's Idempotency-Key: a retried request is recognised without the
    database keeping anything from which the sealed amount could be guessed."""
    return hmac.new(idempotency_key.encode("utf-8"), _canonical(request), hashlib.sha256).hexdigest()


def seal_bid(bid: Bid, call: Call, content: dict) -> None:
    """Seal the bid's content to the call's key; the clear columns stay empty until the opening."""
    bid.sealed_content = sealing.seal(call.public_key, _canonical(content))


def seal_file(call: Call, data: bytes) -> bytes:
    return sealing.seal(call.public_key, data)


def _decode(bid: Bid, private_key: bytes) -> dict:
    return json.loads(sealing.unseal(private_key, bid.sealed_content).decode("utf-8"))


def _clear_values(content: dict) -> dict:
    distance = content.get("delivery_distance_km")
    return {
        "amount": Decimal(content["amount_eur"]),
        "technical_note": content.get("technical_note", ""),
        "environmental_note": content.get("environmental_note", ""),
        "delivery_distance_km": None if distance is None else Decimal(distance),
        "receipt_content": content["receipt_content"],
    }


def show_values(bid: Bid, content: dict) -> None:
    """Put a bid's content on the object for this request only: loaded values, never written back."""
    for name, value in _clear_values(content).items():
        set_committed_value(bid, name, value)
    documents = {d["storage_key"]: d for d in content.get("documents", [])}
    if not documents:  # no lazy load of an empty list for each bid shown
        return
    for document in bid.documents:
        for name in ("filename", "content_type", "size", "sha256"):
            set_committed_value(document, name, documents.get(document.storage_key, {}).get(name))


def reveal_own(call: Call, bids: list[Bid]) -> None:
    """A supplier reading its own sealed bids on a call without committee: the server key opens them in memory for
    this request (nothing written). With a committee nobody can before the opening: the bidder keeps the receipt it
    got at submission."""
    if bids_opened(call) or call.server_wrapped_key is None:
        return
    private_key = sealing.secret_unwrap(server_key(), call.server_wrapped_key)
    for bid in bids:
        if bid.sealed_content is not None:
            show_values(bid, _decode(bid, private_key))


# --- opening --------------------------------------------------------------------------------------------------------


def open_bids(session: Session, actor, call: Call, private_key: bytes, *, automatic: bool, opened_by: list[str]):
    """Decrypt every bid of the call and its documents, write them in clear, and fix the opening record."""
    now = utcnow()
    folder = upload_folder()
    bids = list(session.scalars(sa.select(Bid).where(Bid.call_id == call.id)))
    for bid in bids:
        if bid.sealed_content is None:
            continue
        content = _decode(bid, private_key)
        for name, value in _clear_values(content).items():
            setattr(bid, name, value)
        meta = {d["storage_key"]: d for d in content.get("documents", [])}
        for document in bid.documents:
            path = folder / document.storage_key
            if path.is_file():
                path.write_bytes(sealing.unseal(private_key, path.read_bytes()))
            details = meta.get(document.storage_key, {})
            document.filename = details.get("filename")
            document.content_type = details.get("content_type")
            document.size = details.get("size")
            document.sha256 = details.get("sha256")
        bid.sealed_content = None
    call.opened_at = now
    if not automatic:
        call.server_wrapped_key = None
    session.flush()
    opening = _write_record(session, call, bids, now, automatic=automatic, opened_by=opened_by)
    record(
        session,
        actor,
        "bids.opened",
        call,
        automatic=automatic,
        bids=sum(1 for b in bids if b.status == "active"),
        record_sha256=opening.sha256,
    )
    return opening


def open_automatically(session: Session, call: Call) -> OpeningRecord | None:
    """A call without committee, at its closing: its bids are opened with the server key. A server key that does
    not open it (BID_SEALING_KEY or SECRET_KEY changed since publication) is logged and the call closes anyway;
    the scheduler tries again (open_pending_calls) once the key is put back."""
    if bids_opened(call) or call.server_wrapped_key is None:
        return None
    try:
        private_key = sealing.secret_unwrap(server_key(), call.server_wrapped_key)
    except sealing.SealError:
        log.error("the server key does not open the bids of call %s: BID_SEALING_KEY or SECRET_KEY changed?", call.id)
        return None
    return open_bids(session, None, call, private_key, automatic=True, opened_by=[])


def open_pending_calls(session: Session) -> list[int]:
    """Closed calls without committee whose bids are still sealed (their opening failed): open them now."""
    pending = session.scalars(
        sa.select(Call).where(Call.status == "closed", Call.opened_at.is_(None), Call.server_wrapped_key.is_not(None))
    )
    return [call.id for call in pending if open_automatically(session, call) is not None]


def _paris(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")


def _write_record(session: Session, call: Call, bids: list[Bid], now: datetime, *, automatic: bool, opened_by):
    """The procès-verbal d'ouverture des plis, fixed as canonical JSON: the call, its lots and, for each lot, every
    active bid once (bidder, SIRET, time of receipt, amount excluding VAT, receipt hash, documents)."""
    active = sorted((b for b in bids if b.status == "active"), key=lambda b: (b.submitted_at, b.id))
    lots = []
    for lot in call.lots:
        lot_bids = [b for b in active if b.lot_id == lot.id]
        lots.append(
            {
                "number": lot.number,
                "title": lot.title,
                "cpv_code": lot.cpv_code,
                "bids": [
                    {
                        "bid_id": b.id,
                        "supplier": b.supplier.name,
                        "siret": b.supplier.siret,
                        "received_at": _paris(b.submitted_at),
                        "amount_eur_excl_vat": f"{b.amount:.2f}",
                        "receipt_sha256": b.receipt_sha256,
                        "documents": [
                            {"kind": d.kind, "filename": d.filename, "sha256": d.sha256} for d in b.documents
                        ],
                    }
                    for b in lot_bids
                ],
            }
        )
    content = {
        "call_id": call.id,
        "call": call.title,
        "group": call.group.name,
        "bid_deadline": _paris(call.bid_deadline),
        "opened_at": _paris(now),
        "automatic": automatic,
        "opened_by": opened_by,
        "withdrawn": sum(1 for b in bids if b.status == "withdrawn"),
        "lots": lots,
    }
    text = _canonical(content).decode("utf-8")
    opening = OpeningRecord(
        call_id=call.id,
        opened_at=now,
        automatic=automatic,
        content=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    session.add(opening)
    session.flush()
    return opening


def opening_record(session: Session, call: Call) -> OpeningRecord | None:
    return session.scalar(sa.select(OpeningRecord).where(OpeningRecord.call_id == call.id))


def bid_documents_of(session: Session, bid_ids) -> list[BidDocument]:
    ids = list(bid_ids)
    if not ids:
        return []
    return list(session.scalars(sa.select(BidDocument).where(BidDocument.bid_id.in_(ids))))


def bid_document_file(session: Session, bid: Bid, document_id: int) -> tuple[BidDocument, Path]:
    """A document of a bid the caller may read (services.get_bid), once the bids are opened; NotFound otherwise."""
    document = session.get(BidDocument, document_id)
    if document is None or document.bid_id != bid.id:
        raise NotFound(str(_l("This document does not exist.")))
    require_opened(session.get(Call, bid.call_id))
    path = upload_folder() / document.storage_key
    if not path.is_file():
        raise NotFound(str(_l("This document does not exist.")))
    return document, path
