"""Pooled calls for tenders and sealed bids.

The bid deadline is enforced in every request with the server clock (`utcnow()`): a stopped scheduler can delay
a notification, never let a late bid in. Before the deadline nobody but the bidder learns anything about any bid:
no page, API answer, export, notification or log line says whether bids exist.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import filetype
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from app.calls.models import (
    CRITERIA,
    Award,
    Bid,
    BidScore,
    Call,
    CallDocument,
    CallLot,
    Contract,
    Criterion,
    Question,
    Subscription,
)
from app.db import CENT, utcnow
from app.domain import cpv as cpv_domain
from app.domain import scoring
from app.domain.procedures import PROCEDURE_LABELS
from app.domain.receipts import receipt_content, sha256_hex
from app.domain.text import N_
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.groups.models import Membership, PurchaseGroup
from app.notifications.services import buyers_of, coordinators_of, notify
from app.organizations.models import SupplierCompany, SupplierTrade
from app.reference.models import CpvCode

log = logging.getLogger("mutualis.calls")

REGION_DEPARTEMENTS = ("21", "25", "39", "58", "70", "71", "89", "90")  # Bourgogne-Franche-Comté
ALLOWED_DOCUMENTS = {
    "pdf": "application/pdf",
    "odt": "application/vnd.oasis.opendocument.text",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAX_DOCUMENT_BYTES = 15 * 1024 * 1024
REMINDER_BEFORE_DEADLINE = timedelta(days=3)
# Minimum bid periods shown as warnings to the coordinator (not refusals): an open call for tenders gives
# at least 35 days from the contract notice (code de la commande publique, R2161-2); for an adapted
# procedure the law asks for a "reasonable" period, which Mutualis takes as 15 days by default.
MINIMUM_BID_DAYS = {"formal": 35, "adapted": 15, "none": 0}

MSG_CALL_PUBLISHED = N_("New pooled call “%(call)s” matching your trades: bids until %(deadline)s (UTC).")
MSG_CALL_REMINDER = N_("Three days left to bid on “%(call)s”: the deadline is %(deadline)s (UTC).")
MSG_CALL_CLOSED = N_("The call “%(call)s” is closed: the bids can now be opened and evaluated.")
MSG_QUESTIONS_WAITING = N_("%(count)s question(s) on “%(call)s” wait for an answer.")
MSG_QUESTION_ANSWERED = N_("Your question on “%(call)s” has been answered publicly.")
MSG_BID_RECEIVED = N_("Your bid on “%(call)s”, lot %(lot)s, was received at %(at)s (UTC). Receipt SHA-256: %(sha)s")
MSG_AWARDED_WIN = N_("Lot %(lot)s of “%(call)s” is awarded to you (rank 1 of %(count)s).")
MSG_AWARDED_MEMBERS = N_("Lot %(lot)s of “%(call)s” is awarded to %(supplier)s.")
MSG_AWARDED_LOSS = N_(
    "Lot %(lot)s of “%(call)s” is awarded to another supplier; your bid ranked %(rank)s of %(count)s."
)


# --- who may see what ------------------------------------------------------------------------------------------


def visible_calls(actor) -> sa.Select:
    stmt = sa.select(Call)
    if actor.role in ("coordinator", "admin", "system"):
        return stmt
    if actor.role == "buyer":
        groups = sa.select(Membership.group_id).where(Membership.organization_id == actor.organization_id)
        return stmt.where(Call.group_id.in_(groups))
    if actor.role == "supplier":
        return stmt.where(Call.published_at.is_not(None))
    raise NotPermitted("")


def get_call(session: Session, actor, call_id: int) -> Call:
    call = session.scalar(visible_calls(actor).where(Call.id == call_id))
    if call is None:
        raise NotFound(str(_l("This call does not exist, or you may not see it.")))
    return call


def _require_coordinator(actor) -> None:
    if actor.role not in ("coordinator", "system"):
        raise NotPermitted(str(_l("Only purchasing coordinators manage calls for tenders.")))


def _require_supplier(actor) -> SupplierCompany:
    if actor.role != "supplier" or actor.supplier_id is None:
        raise NotPermitted(str(_l("Only suppliers bid or ask questions.")))
    return actor.supplier


def effective_status(call: Call, now: datetime | None = None) -> str:
    """What the call is by the clock: a published call past its deadline is closed, whatever the scheduler did."""
    now = now or utcnow()
    if call.status == "published" and call.deadline_passed(now):
        return "closed"
    return call.status


# --- creating and publishing -------------------------------------------------------------------------------------


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
    if reasons:
        raise ValidationFailed(reasons)
    return {"lots": clean_lots, "criteria": criteria}


def create_call(session: Session, actor, group: PurchaseGroup, values: CallValues) -> Call:
    """A draft call for a constituted group (any future deadline; short periods only give warnings)."""
    _require_coordinator(actor)
    if group.status != "constituted":
        raise Conflict("group_not_constituted", str(_l("A call can only be prepared for a constituted group.")))
    clean = _validate_call(session, group, values, utcnow())
    call = Call(
        group_id=group.id,
        title=values.title.strip(),
        description=(values.description or "").strip(),
        questions_deadline=values.questions_deadline,
        bid_deadline=values.bid_deadline,
        created_by_id=actor.id,
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
    session.add(call)
    session.flush()
    return call


def deadline_warnings(call: Call, procedure_code: str | None, now: datetime | None = None) -> list[str]:
    """Warnings (not refusals) when the bid period is shorter than the usual minimum for the procedure."""
    now = now or utcnow()
    start = call.published_at or now
    minimum = MINIMUM_BID_DAYS.get(procedure_code or "adapted", 0)
    days = (call.bid_deadline - start).total_seconds() / 86400
    if minimum and days < minimum:
        return [
            str(
                _l(
                    "The bid period is %(days).1f days; this procedure (%(procedure)s) usually gives at least "
                    "%(minimum)d days.",
                    days=days,
                    procedure=_l(PROCEDURE_LABELS.get(procedure_code or "adapted", "")),
                    minimum=minimum,
                )
            )
        ]
    return []


def publish_call(session: Session, actor, call: Call) -> list[SupplierCompany]:
    """Publish a draft call and notify the matching suppliers, local ones first; returns them in that order."""
    _require_coordinator(actor)
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
    call.status, call.published_at = "published", now
    session.flush()
    suppliers = matching_suppliers(session, call)
    params = {"call": call.title, "deadline": call.bid_deadline.strftime("%Y-%m-%d %H:%M")}
    for company in suppliers:
        users = [u for u in _supplier_users(session, [company.id])]
        notify(session, users, "call_published", MSG_CALL_PUBLISHED, params, f"/calls/{call.id}")
    return suppliers


def _supplier_users(session: Session, supplier_ids) -> list:
    from app.accounts.models import User

    ids = list(supplier_ids)
    if not ids:
        return []
    return list(session.scalars(sa.select(User).where(User.supplier_id.in_(ids), User.is_active_account)))


def _home_departement(call: Call) -> str:
    postcode = call.group.coordinator_organization.postcode or "21000"
    return postcode[:2]


def matching_suppliers(session: Session, call: Call) -> list[SupplierCompany]:
    """Suppliers with a trade in the class of a lot's CPV (class level or finer), or a subscription covering it.

    Ordered local first: the coordinating organization's département, then the region, then elsewhere.
    """
    classes = {lot.cpv_code[:4] for lot in call.lots}
    codes = [lot.cpv_code for lot in call.lots]
    by_trade = sa.select(SupplierTrade.company_id).where(
        sa.func.substr(SupplierTrade.cpv_code, 1, 4).in_(classes),
        sa.func.length(sa.func.rtrim(SupplierTrade.cpv_code, "0")) >= 4,
    )
    subscription_match = sa.or_(*[sa.literal(code).startswith(Subscription.cpv_prefix) for code in codes])
    by_subscription = sa.select(Subscription.supplier_id).where(subscription_match)
    companies = list(
        session.scalars(
            sa.select(SupplierCompany).where(
                sa.or_(SupplierCompany.id.in_(by_trade), SupplierCompany.id.in_(by_subscription))
            )
        )
    )
    home = _home_departement(call)

    def locality(company: SupplierCompany) -> int:
        if company.postcode[:2] == home:
            return 0
        return 1 if company.postcode[:2] in REGION_DEPARTEMENTS else 2

    return sorted(companies, key=lambda c: (locality(c), c.name))


def locality_label(call: Call, company: SupplierCompany) -> str:
    home = _home_departement(call)
    if company.postcode[:2] == home:
        return "departement"
    return "region" if company.postcode[:2] in REGION_DEPARTEMENTS else "elsewhere"


def cancel_call(session: Session, actor, call: Call, reason: str) -> None:
    _require_coordinator(actor)
    if effective_status(call) not in ("draft", "published"):
        raise Conflict("call_not_cancellable", str(_l("Only a draft or open call can be cancelled.")))
    if not (reason or "").strip():
        raise ValidationFailed({"reason": [str(_l("Say why the call is cancelled."))]})
    call.status = "cancelled"
    session.flush()


# --- subscriptions -----------------------------------------------------------------------------------------------


def subscribe(session: Session, actor, cpv_prefix: str) -> Subscription:
    company = _require_supplier(actor)
    prefix = (cpv_prefix or "").split("-")[0].strip()
    if not prefix.isdigit() or not 2 <= len(prefix) <= 8:
        raise ValidationFailed({"cpv_prefix": [str(_l("A CPV code or prefix has 2 to 8 digits."))]})
    if len(prefix) == 8:
        prefix = prefix.rstrip("0").ljust(2, "0")
    existing = session.get(Subscription, (company.id, prefix))
    if existing:
        return existing
    subscription = Subscription(supplier_id=company.id, cpv_prefix=prefix)
    session.add(subscription)
    session.flush()
    return subscription


def unsubscribe(session: Session, actor, cpv_prefix: str) -> None:
    company = _require_supplier(actor)
    session.execute(
        sa.delete(Subscription).where(Subscription.supplier_id == company.id, Subscription.cpv_prefix == cpv_prefix)
    )


def subscriptions(session: Session, actor) -> list[Subscription]:
    company = _require_supplier(actor)
    return list(
        session.scalars(
            sa.select(Subscription).where(Subscription.supplier_id == company.id).order_by(Subscription.cpv_prefix)
        )
    )


# --- documents -----------------------------------------------------------------------------------------------------


def add_document(session: Session, actor, call: Call, filename: str, data: bytes, folder: str) -> CallDocument:
    """Store a PDF, ODT, DOCX or XLSX (type checked by content) outside the static folder."""
    _require_coordinator(actor)
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
    document = session.get(CallDocument, document_id)
    if document is None or document.call_id != call.id:
        raise NotFound(str(_l("This document does not exist.")))
    return document, Path(folder) / "calls" / document.storage_key


# --- questions and answers --------------------------------------------------------------------------------------


def ask_question(session: Session, actor, call: Call, text: str) -> Question:
    company = _require_supplier(actor)
    now = utcnow()
    if call.status != "published" or now >= call.questions_deadline:
        raise Conflict("questions_closed", str(_l("Questions on this call are closed.")))
    text = (text or "").strip()
    if not text:
        raise ValidationFailed({"text": [str(_l("Write your question."))]})
    if len(text) > 4000:
        raise ValidationFailed({"text": [str(_l("At most %(n)d characters.", n=4000))]})
    question = Question(call_id=call.id, supplier_id=company.id, text=text, asked_at=now)
    call.questions.append(question)
    session.flush()
    return question


def answer_question(session: Session, actor, call: Call, question_id: int, answer: str) -> Question:
    _require_coordinator(actor)
    question = session.get(Question, question_id)
    if question is None or question.call_id != call.id:
        raise NotFound(str(_l("This question does not exist.")))
    if not (answer or "").strip():
        raise ValidationFailed({"answer": [str(_l("Write the answer."))]})
    question.answer, question.answered_at, question.answered_by_id = answer.strip(), utcnow(), actor.id
    session.flush()
    notify(
        session,
        _supplier_users(session, [question.supplier_id]),
        "question_answered",
        MSG_QUESTION_ANSWERED,
        {"call": call.title},
        f"/calls/{call.id}",
    )
    return question


def public_answers(call: Call) -> list[Question]:
    """Answered questions, for everyone who may see the call; the asker is never part of what is shown."""
    return [q for q in call.questions if q.answer]


def own_questions(call: Call, actor) -> list[Question]:
    if actor.role != "supplier":
        return []
    return [q for q in call.questions if q.supplier_id == actor.supplier_id]


# --- sealed bids ---------------------------------------------------------------------------------------------------


@dataclass
class BidValues:
    lot_id: int
    amount: Decimal
    technical_note: str = ""
    environmental_note: str = ""
    delivery_distance_km: Decimal | None = None


def _refuse_if_closed(call: Call, now: datetime) -> None:
    if not call.is_open_for_bids(now):
        raise Conflict(
            "call_closed",
            str(
                _l(
                    "Bids on this call closed at %(deadline)s (UTC).",
                    deadline=call.bid_deadline.strftime("%Y-%m-%d %H:%M:%S"),
                )
            ),
        )


def submit_bid(
    session: Session, actor, call: Call, values: BidValues, *, idempotency_key: str | None = None
) -> tuple[Bid, bool]:
    """Submit (or replace) the supplier's bid on one lot; returns (bid, created). A retried Idempotency-Key returns
    the first result instead of a second bid."""
    company = _require_supplier(actor)
    key = (idempotency_key or "").strip() or None
    if key is not None:
        if len(key) > 200:
            raise ValidationFailed({"Idempotency-Key": [str(_l("At most %(n)d characters.", n=200))]})
        earlier = session.scalar(sa.select(Bid).where(Bid.supplier_id == company.id, Bid.idempotency_key == key))
        if earlier is not None:
            if earlier.call_id != call.id:
                raise Conflict("idempotency_key_reused", str(_l("This Idempotency-Key was used for another call.")))
            return earlier, False
    now = utcnow()
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
    if reasons:
        raise ValidationFailed(reasons)
    session.execute(
        sa.update(Bid)
        .where(Bid.supplier_id == company.id, Bid.lot_id == lot.id, Bid.status == "active")
        .values(status="replaced")
    )
    content = receipt_content(
        call_id=call.id,
        lot_id=lot.id,
        supplier_siret=company.siret,
        amount=amount,
        technical_note=values.technical_note,
        environmental_note=values.environmental_note,
        delivery_distance_km=distance,
        submitted_at=now,
    )
    bid = Bid(
        call_id=call.id,
        lot_id=lot.id,
        supplier_id=company.id,
        submitted_by_id=actor.id,
        amount=amount,
        technical_note=values.technical_note or "",
        environmental_note=values.environmental_note or "",
        delivery_distance_km=distance,
        submitted_at=now,
        receipt_content=content,
        receipt_sha256=sha256_hex(content),
        idempotency_key=key,
    )
    session.add(bid)
    session.flush()
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
        return bid
    call = session.scalar(visible_calls(actor).where(Call.id == bid.call_id))
    if call is None or not _unsealed(call):
        raise missing
    return bid


def _unsealed(call: Call) -> bool:
    return call.deadline_passed(utcnow()) and call.status not in ("draft", "cancelled")


def _require_unsealed(call: Call) -> None:
    if not _unsealed(call):
        raise NotPermitted(str(_l("Bids are sealed until the deadline.")), code="bids_sealed")


def withdraw_bid(session: Session, actor, bid_id: int) -> Bid:
    company = _require_supplier(actor)
    bid = session.get(Bid, bid_id)
    if bid is None or bid.supplier_id != company.id:
        raise NotFound(str(_l("This bid does not exist.")))
    call = session.get(Call, bid.call_id)
    _refuse_if_closed(call, utcnow())
    if bid.status != "active":
        raise Conflict("bid_not_active", str(_l("This bid was already replaced or withdrawn.")))
    bid.status, bid.withdrawn_at = "withdrawn", utcnow()
    session.flush()
    return bid


def list_bids(session: Session, actor, call: Call) -> list[Bid]:
    """A supplier: its own bids (every version). Anyone else: the active bids, only after the deadline."""
    if actor.role == "supplier":
        return list(
            session.scalars(
                sa.select(Bid)
                .where(Bid.call_id == call.id, Bid.supplier_id == actor.supplier_id)
                .order_by(Bid.lot_id, Bid.submitted_at.desc())
            )
        )
    _require_unsealed(call)
    ensure_closed(session, call)
    return list(
        session.scalars(
            sa.select(Bid)
            .options(selectinload(Bid.scores))
            .where(Bid.call_id == call.id, Bid.status == "active")
            .order_by(Bid.lot_id, Bid.amount, Bid.submitted_at)
        )
    )


# --- closing --------------------------------------------------------------------------------------------------------


def _close(session: Session, call_id: int, now: datetime) -> bool:
    """Conditional update: the call closes exactly once, whoever (scheduler or request) gets there first."""
    result = session.execute(
        sa.update(Call)
        .where(Call.id == call_id, Call.status == "published", Call.bid_deadline <= now)
        .values(status="closed", closed_at=now, version=Call.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    call = session.get(Call, call_id)
    session.refresh(call)
    _flag_abnormally_low(session, call)
    notify(
        session,
        coordinators_of(session, None),
        "call_closed",
        MSG_CALL_CLOSED,
        {"call": call.title},
        f"/calls/{call.id}",
    )
    return True


def ensure_closed(session: Session, call: Call) -> None:
    if call.status == "published" and call.deadline_passed(utcnow()):
        _close(session, call.id, utcnow())


def close_due_calls(session: Session, now: datetime | None = None) -> list[int]:
    """Close every published call whose deadline has passed (all overdue ones at once after a downtime)."""
    now = now or utcnow()
    due = list(session.scalars(sa.select(Call.id).where(Call.status == "published", Call.bid_deadline <= now)))
    return [call_id for call_id in due if _close(session, call_id, now)]


def _flag_abnormally_low(session: Session, call: Call) -> None:
    for lot in call.lots:
        bids = list(session.scalars(sa.select(Bid).where(Bid.lot_id == lot.id, Bid.status == "active")))
        for bid in bids:
            others = [b.amount for b in bids if b.id != bid.id]
            bid.abnormally_low = scoring.abnormally_low(bid.amount, others, lot.estimated_amount)
        if not bids:
            lot.status = "unsuccessful"
    session.flush()


def send_bid_reminders(session: Session, now: datetime | None = None) -> int:
    """Three days before the deadline, remind the matching suppliers (once per call)."""
    now = now or utcnow()
    due = list(
        session.scalars(
            sa.select(Call).where(
                Call.status == "published",
                Call.bid_reminder_sent_at.is_(None),
                Call.bid_deadline > now,
                Call.bid_deadline <= now + REMINDER_BEFORE_DEADLINE,
            )
        )
    )
    sent = 0
    for call in due:
        claimed = session.execute(
            sa.update(Call)
            .where(Call.id == call.id, Call.bid_reminder_sent_at.is_(None))
            .values(bid_reminder_sent_at=now, version=Call.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            continue
        params = {"call": call.title, "deadline": call.bid_deadline.strftime("%Y-%m-%d %H:%M")}
        users = _supplier_users(session, [c.id for c in matching_suppliers(session, call)])
        notify(session, users, "call_reminder", MSG_CALL_REMINDER, params, f"/calls/{call.id}")
        sent += 1
    return sent


def send_question_reminders(session: Session, now: datetime | None = None) -> int:
    """Tell the coordinators, at most once a day per call, about questions still unanswered."""
    now = now or utcnow()
    rows = session.execute(
        sa.select(Call.id, sa.func.count(Question.id))
        .join(Question, Question.call_id == Call.id)
        .where(
            Call.status == "published",
            Question.answer.is_(None),
            sa.or_(
                Call.questions_reminder_sent_at.is_(None), Call.questions_reminder_sent_at <= now - timedelta(days=1)
            ),
        )
        .group_by(Call.id)
    ).all()
    for call_id, count in rows:
        call = session.get(Call, call_id)
        call.questions_reminder_sent_at = now
        notify(
            session,
            coordinators_of(session, None),
            "questions_waiting",
            MSG_QUESTIONS_WAITING,
            {"count": count, "call": call.title},
            f"/calls/{call.id}",
        )
    session.flush()
    return len(rows)


# --- evaluation and award ------------------------------------------------------------------------------------------


def _require_closed(session: Session, call: Call) -> None:
    ensure_closed(session, call)
    if call.status not in ("closed", "evaluated"):
        raise Conflict("call_not_closed", str(_l("Bids can be evaluated only after the deadline, before the award.")))


def score_bid(session: Session, actor, call: Call, bid_id: int, scores: dict) -> Bid:
    """The coordinator scores a bid on every criterion but price (computed by the published formula)."""
    _require_coordinator(actor)
    _require_closed(session, call)
    bid = session.get(Bid, bid_id)
    if bid is None or bid.call_id != call.id or bid.status != "active":
        raise NotFound(str(_l("This bid does not exist.")))
    names = {c.name for c in call.criteria if c.name != "price"}
    reasons: dict[str, list[str]] = {}
    for name, value in scores.items():
        if name not in names:
            reasons[f"scores.{name}"] = [str(_l("Not a scored criterion of this call (price is computed)."))]
        elif (
            not isinstance(value, int | Decimal)
            or not 0 <= value <= 100
            or Decimal(value) != Decimal(value).quantize(Decimal("0.01"))
        ):
            reasons[f"scores.{name}"] = [str(_l("A score from 0 to 100."))]
    if reasons:
        raise ValidationFailed(reasons)
    existing = {s.criterion: s for s in bid.scores}
    for name, value in scores.items():
        if name in existing:
            existing[name].score, existing[name].scored_by_id = Decimal(value), actor.id
            existing[name].scored_at = utcnow()
        else:
            bid.scores.append(BidScore(criterion=name, score=Decimal(value), scored_by_id=actor.id))
    session.flush()
    if all(r.complete for rows in ranking(session, actor, call).values() for r, _ in rows):
        call.status = "evaluated"
        session.flush()
    return bid


def ranking(session: Session, actor, call: Call) -> dict[int, list[tuple[scoring.Ranked, Bid]]]:
    """Per lot: the active bids ranked by the weighted criteria."""
    if actor.role not in ("coordinator", "admin", "buyer", "system"):
        raise NotPermitted("")
    _require_unsealed(call)
    ensure_closed(session, call)
    weights = {c.name: c.weight for c in call.criteria}
    bids = list_bids(session, actor, call)
    out: dict[int, list[tuple[scoring.Ranked, Bid]]] = {}
    for lot in call.lots:
        lot_bids = {b.id: b for b in bids if b.lot_id == lot.id}
        offers = [
            scoring.Offer(b.id, b.amount, b.submitted_at, {s.criterion: s.score for s in b.scores})
            for b in lot_bids.values()
        ]
        out[lot.id] = [(r, lot_bids[r.bid_id]) for r in scoring.rank(offers, weights)]
    return out


def award_lot(session: Session, actor, call: Call, lot_id: int, bid_id: int) -> Award:
    """Award a lot to a bid; the winner and the others are told their rank; one contract per member."""
    _require_coordinator(actor)
    _require_closed(session, call)
    lot = next((lot for lot in call.lots if lot.id == lot_id), None)
    if lot is None:
        raise NotFound(str(_l("This lot is not part of the call.")))
    if lot.status != "open":
        raise Conflict("lot_already_decided", str(_l("This lot is already awarded or unsuccessful.")))
    ranked = ranking(session, actor, call)[lot.id]
    chosen = next(((r, b) for r, b in ranked if b.id == bid_id), None)
    if chosen is None:
        raise ValidationFailed({"bid_id": [str(_l("This bid is not an active bid on this lot."))]})
    if not all(r.complete for r, _ in ranked):
        raise Conflict("evaluation_incomplete", str(_l("Score every bid of the lot on every criterion first.")))
    better = [b for r, b in ranked if r.rank < chosen[0].rank]
    if any(not b.abnormally_low for b in better):
        raise Conflict(
            "not_best_offer",
            str(
                _l(
                    "The lot goes to the best-ranked offer; a better-ranked offer may be "
                    "set aside only when it is flagged abnormally low."
                )
            ),
        )
    award = Award(lot_id=lot.id, bid_id=bid_id, awarded_by_id=actor.id)
    session.add(award)
    lot.status = "awarded"
    session.flush()
    for organization_id, share, amount in _member_shares(call, lot, chosen[1].amount):
        session.add(
            Contract(
                award_id=award.id,
                organization_id=organization_id,
                supplier_id=chosen[1].supplier_id,
                amount=amount,
                share=share,
            )
        )
    count = len(ranked)
    for r, b in ranked:
        users = _supplier_users(session, [b.supplier_id])
        if b.id == bid_id:
            notify(
                session,
                users,
                "award_won",
                MSG_AWARDED_WIN,
                {"lot": lot.number, "call": call.title, "count": count},
                f"/calls/{call.id}",
            )
        else:
            notify(
                session,
                users,
                "award_lost",
                MSG_AWARDED_LOSS,
                {"lot": lot.number, "call": call.title, "rank": r.rank, "count": count},
                f"/calls/{call.id}",
            )
    member_ids = [m.organization_id for m in call.group.memberships if m.status == "signed"]
    notify(
        session,
        buyers_of(session, member_ids) + coordinators_of(session, None),
        "award_made",
        MSG_AWARDED_MEMBERS,
        {"lot": lot.number, "call": call.title, "supplier": chosen[1].supplier.name},
        f"/calls/{call.id}",
    )
    if all(lot.status != "open" for lot in call.lots):
        call.status = "awarded"
    session.flush()
    return award


def _member_shares(call: Call, lot: CallLot, amount: Decimal) -> list[tuple[int, Decimal, Decimal]]:
    """Each member's share of the lot: from the group lot's shares, or the members' totals in the group."""
    weights: dict[int, Decimal] = {}
    if lot.group_lot is not None and lot.group_lot.shares:
        for share in lot.group_lot.shares:
            weights[share.organization_id] = weights.get(share.organization_id, Decimal(0)) + share.annual_amount
    else:
        for gn in call.group.group_needs:
            if gn.included:
                weights[gn.organization_id] = weights.get(gn.organization_id, Decimal(0)) + gn.annual_amount
    total = sum(weights.values(), Decimal(0))
    if not total:
        return []
    rows, allotted = [], Decimal("0.00")
    items = sorted(weights.items())
    for index, (organization_id, weight) in enumerate(items):
        share = (weight / total).quantize(Decimal("0.000001"), ROUND_HALF_UP)
        part = amount - allotted if index == len(items) - 1 else (amount * weight / total).quantize(CENT, ROUND_HALF_UP)
        allotted += part
        rows.append((organization_id, share, part))
    return rows


def declare_unsuccessful(session: Session, actor, call: Call, lot_id: int) -> None:
    _require_coordinator(actor)
    _require_closed(session, call)
    lot = next((lot for lot in call.lots if lot.id == lot_id), None)
    if lot is None:
        raise NotFound("")
    if lot.status != "open":
        raise Conflict("lot_already_decided", str(_l("This lot is already awarded or unsuccessful.")))
    lot.status = "unsuccessful"
    if all(lot.status == "unsuccessful" for lot in call.lots):
        call.status = "unsuccessful"
    elif all(lot.status != "open" for lot in call.lots):
        call.status = "awarded"
    session.flush()


def contracts_of(session: Session, call: Call) -> list[Contract]:
    return list(
        session.scalars(
            sa.select(Contract)
            .join(Award)
            .join(CallLot, Award.lot_id == CallLot.id)
            .where(CallLot.call_id == call.id)
            .order_by(Contract.id)
        )
    )


def matching_calls(actor) -> sa.Select:
    """The calls a supplier sees that match its trades or subscriptions: the reverse of `matching_suppliers`
    (a trade at class level or finer in the class of a lot's CPV, or a subscription prefix of a lot's CPV)."""
    company = _require_supplier(actor)
    trade_classes = sa.select(sa.func.substr(SupplierTrade.cpv_code, 1, 4)).where(
        SupplierTrade.company_id == company.id,
        sa.func.length(sa.func.rtrim(SupplierTrade.cpv_code, "0")) >= 4,
    )
    subscribed = (
        sa.select(Subscription.cpv_prefix)
        .where(Subscription.supplier_id == company.id, CallLot.cpv_code.startswith(Subscription.cpv_prefix))
        .exists()
    )
    return visible_calls(actor).where(
        Call.lots.any(sa.or_(sa.func.substr(CallLot.cpv_code, 1, 4).in_(trade_classes), subscribed))
    )
