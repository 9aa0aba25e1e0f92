"""Preparing, publishing and cancelling a call for tenders, and its documents."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import filetype
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import effects
from app.audit.services import record
from app.calls.models import CRITERIA, Call, CallDocument, CallLot, Criterion
from app.calls.services import committee
from app.calls.services.access import require_coordinator, supplier_users
from app.calls.services.deadlines import effective_status
from app.calls.services.matching import matching_suppliers
from app.clock import utcnow
from app.db import CENT
from app.domain import cpv as cpv_domain
from app.domain import scoring
from app.domain.text import N_
from app.errors import Conflict, NotFound, ValidationFailed
from app.groups.models import PurchaseGroup
from app.notifications.services import notify
from app.organizations.models import SupplierCompany
from app.reference.models import CpvCode

log = logging.getLogger(__name__)

ALLOWED_DOCUMENTS = {
    "pdf": "application/pdf",
    "odt": "application/vnd.oasis.opendocument.text",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAX_DOCUMENT_BYTES = 15 * 1024 * 1024

MSG_CALL_PUBLISHED = N_("New pooled call “%(call)s” matching your trades: bids until %(deadline)s (UTC).")


@dataclass
class LotInput:
    title: str
    cpv_code: str
    estimated_amount: Decimal
    description: str = ""
    group_lot_id: int | None = None


@dataclass
class CallValues:
    title: str
    description: str
    questions_deadline: datetime
    bid_deadline: datetime
    lots: list[LotInput] = field(default_factory=list)  # empty: one call lot per lot of the group
    criteria: list[tuple[str, int]] = field(default_factory=list)
    # Days between the award and the first day the contracts may be signed; None: 11 for formal procedures (shorter
    # is a warning, not a refusal, so that short test calls are possible).
    standstill_days: int | None = None
    contract_kind: str = "contract"  # or "framework": an accord-cadre à bons de commande, its maximum the award
    # The opening committee: three account emails and the quorum (2); None for a call opened at its deadline.
    opening_committee: list[str] | None = None
    opening_quorum: int | None = None


def _validate_call(session: Session, group: PurchaseGroup, values: CallValues, now: datetime) -> dict:
    reasons: dict[str, list[str]] = {}
    if not (values.title or "").strip():
        reasons["title"] = [str(_l("The title is required."))]
    for name in ("questions_deadline", "bid_deadline"):
        moment = getattr(values, name)
        if moment is None:
            reasons[name] = [str(_l("The date and time are required."))]
        elif moment.tzinfo is None:
            reasons[name] = [str(_l("Give the time with its offset (for example +01:00 for Paris in winter)."))]
        elif moment <= now:
            reasons[name] = [str(_l("This deadline is already past."))]
    if (
        not reasons.get("questions_deadline")
        and not reasons.get("bid_deadline")
        and values.questions_deadline > values.bid_deadline
    ):
        reasons["questions_deadline"] = [str(_l("Questions must close before or when bids close."))]
    lots = values.lots or [
        LotInput(lot.title, lot.cpv_code, lot.estimated_amount, lot.description, lot.id) for lot in group.lots
    ]
    if not lots:
        reasons["lots"] = [str(_l("A call has at least one lot: define the group's lots or list them here."))]
    clean_lots = []
    for index, lot in enumerate(lots):
        key = f"lots.{index}"
        if not (lot.title or "").strip():
            reasons[f"{key}.title"] = [str(_l("The title is required."))]
        try:
            code = cpv_domain.parse_code(lot.cpv_code).code
            if session.get(CpvCode, code) is None:
                reasons[f"{key}.cpv_code"] = [str(_l("Unknown CPV code: %(codes)s", codes=code))]
        except cpv_domain.InvalidCpvCode:
            code = None
            reasons[f"{key}.cpv_code"] = [str(_l("A CPV code has 8 digits, for example 09310000 or 09310000-5."))]
        if lot.group_lot_id is not None and lot.group_lot_id not in {group_lot.id for group_lot in group.lots}:
            reasons[f"{key}.group_lot_id"] = [str(_l("This lot is not one of the group's lots."))]
        amount = lot.estimated_amount
        if not isinstance(amount, Decimal) or amount <= 0:
            reasons[f"{key}.estimated_amount_eur"] = [str(_l("The estimated amount must be greater than zero."))]
        clean_lots.append((lot, code))
    criteria = values.criteria or [("price", 60), ("technical", 30), ("environmental", 10)]
    unknown = [name for name, _ in criteria if name not in CRITERIA]
    problems = [str(_l(p)) for p in scoring.check_weights(criteria)]
    if unknown:
        problems.append(str(_l("Unknown criteria: %(names)s", names=", ".join(unknown))))
    if problems:
        reasons["criteria"] = problems
    if values.standstill_days is not None and not 0 <= values.standstill_days <= 365:
        reasons["standstill_days"] = [str(_l("From 0 to 365 days."))]
    if values.contract_kind not in ("contract", "framework"):
        reasons["contract_kind"] = [str(_l("A contract or a framework agreement."))]
    if reasons:
        raise ValidationFailed(reasons)
    return {"lots": clean_lots, "criteria": criteria}


def create_call(session: Session, actor, group: PurchaseGroup, values: CallValues) -> Call:
    """A draft call for a constituted group (any future deadline; short periods only give warnings)."""
    require_coordinator(actor)
    if group.status != "constituted":
        raise Conflict("group_not_constituted", str(_l("A call can only be prepared for a constituted group.")))
    clean = _validate_call(session, group, values, utcnow())
    call = Call(
        group_id=group.id,
        title=values.title.strip(),
        description=(values.description or "").strip(),
        questions_deadline=values.questions_deadline.astimezone(UTC),  # instants are kept in UTC
        bid_deadline=values.bid_deadline.astimezone(UTC),
        created_by_id=actor.id,
        standstill_days=values.standstill_days,
        contract_kind=values.contract_kind,
    )
    for number, (lot, code) in enumerate(clean["lots"], start=1):
        call.lots.append(
            CallLot(
                number=number,
                title=lot.title.strip(),
                cpv_code=code,
                estimated_amount=lot.estimated_amount.quantize(CENT),
                description=(lot.description or "").strip(),
                group_lot_id=lot.group_lot_id,
            )
        )
    for name, weight in clean["criteria"]:
        call.criteria.append(Criterion(name=name, weight=weight))
    committee.name_committee(session, call, group, values.opening_committee, values.opening_quorum)
    session.add(call)
    session.flush()
    record(
        session,
        actor,
        "call.created",
        call,
        group_id=group.id,
        questions_deadline=call.questions_deadline,
        bid_deadline=call.bid_deadline,
        opening_committee=[m.user_id for m in call.committee],
    )
    return call


def publish_call(session: Session, actor, call: Call) -> list[SupplierCompany]:
    """Publish a draft call and notify the matching suppliers, local ones first; returns them in that order."""
    require_coordinator(actor)
    if call.status != "draft":
        raise Conflict("call_not_draft", str(_l("Only a draft call can be published.")))
    now = utcnow()
    past = {
        name: [str(_l("This deadline is already past."))]
        for name in ("questions_deadline", "bid_deadline")
        if getattr(call, name) <= now
    }
    if past:
        raise ValidationFailed(past)
    committee.require_enrolled(call)
    committee.share_call_key(call)
    call.status, call.published_at = "published", now
    session.flush()
    record(
        session,
        actor,
        "call.published",
        call,
        bid_deadline=call.bid_deadline,
        sealed_by="committee" if call.opening_quorum else "server_key",
    )
    suppliers = matching_suppliers(session, call)
    params = {"call": call.title, "deadline": call.bid_deadline.strftime("%Y-%m-%d %H:%M")}
    for company in suppliers:
        users = [u for u in supplier_users(session, [company.id])]
        notify(session, users, "call_published", MSG_CALL_PUBLISHED, params, f"/calls/{call.id}")
    return suppliers


def cancel_call(session: Session, actor, call: Call, reason: str) -> None:
    require_coordinator(actor)
    if effective_status(call) not in ("draft", "published"):
        raise Conflict("call_not_cancellable", str(_l("Only a draft or open call can be cancelled.")))
    if not (reason or "").strip():
        raise ValidationFailed({"reason": [str(_l("Say why the call is cancelled."))]})
    call.status = "cancelled"
    session.flush()
    record(session, actor, "call.cancelled", call)


def add_document(session: Session, actor, call: Call, filename: str, data: bytes, folder: str) -> CallDocument:
    """Store a PDF, ODT, DOCX or XLSX (type checked by content) outside the static folder."""
    require_coordinator(actor)
    if effective_status(call) not in ("draft", "published"):
        raise Conflict("call_closed", str(_l("Documents can only be added before the call closes.")))
    name = Path(filename or "").name.strip()
    if not data:
        raise ValidationFailed({"file": [str(_l("The file is empty."))]})
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed(
            {"file": [str(_l("The file is larger than %(mb)d MB.", mb=MAX_DOCUMENT_BYTES // (1024 * 1024)))]}
        )
    kind = filetype.guess(data)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if kind is None or kind.extension not in ALLOWED_DOCUMENTS or extension != kind.extension:
        raise ValidationFailed(
            {"file": [str(_l("Only PDF, ODT, DOCX and XLSX files are accepted, and the name must match the content."))]}
        )
    key = secrets.token_hex(16)
    path = Path(folder) / "calls" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    effects.on_rollback(session, lambda: path.unlink(missing_ok=True), f"remove the document file {key}")
    document = CallDocument(
        call_id=call.id,
        filename=name[:200],
        content_type=ALLOWED_DOCUMENTS[kind.extension],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
    )
    call.documents.append(document)
    session.flush()
    return document


def document_file(session: Session, actor, call: Call, document_id: int, folder: str) -> tuple[CallDocument, Path]:
    """The document and its file; NotFound when either is missing (a file lost from the storage is logged)."""
    document = session.get(CallDocument, document_id)
    if document is None or document.call_id != call.id:
        raise NotFound(str(_l("This document does not exist.")))
    path = Path(folder) / "calls" / document.storage_key
    if not path.is_file():
        log.error("the file of document %s (call %s) is missing from the storage: %s", document.id, call.id, path)
        raise NotFound(str(_l("This document does not exist.")))
    return document, path
