"""What bidders learn once a lot is decided: each supplier its own bid's outcome (status, rank, points, reasons),
the letter to unsuccessful bidders with the standstill period, the supplier's bids and contracts, and the award
notices anyone may read. Never another bidder's details beyond the award notice (the winner's name and amount)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from app.calls.models import Award, Bid, Call, CallLot, Contract
from app.calls.services.access import require_supplier, supplier_users
from app.calls.values import call_procedure
from app.clock import PARIS, paris_today
from app.domain import outcomes, scoring
from app.errors import NotFound
from app.i18n import day, money, number


@dataclass(frozen=True)
class AwardNotice:
    """What the award notice publishes of a lot: the winner's name and the amount (excl. VAT, whole contract)."""

    lot: CallLot
    supplier_name: str | None  # None: the lot was declared unsuccessful
    amount: Decimal | None
    awarded_at: datetime | None


def _weights(call: Call) -> dict[str, int]:
    return {c.name: c.weight for c in call.criteria}


def bid_outcomes(session: Session, bids: list[Bid]) -> dict[int, outcomes.Outcome]:
    """The outcome of each bid given (the caller has checked it may read them), computed from the decided lots'
    rankings in a fixed number of statements."""
    decided = {b.lot_id for b in bids if b.status == "active" and b.lot.status != "open"}
    ranked: dict[int, list[scoring.Ranked]] = {}
    awarded: dict[int, int] = {}
    if decided:
        lot_bids: dict[int, list[Bid]] = defaultdict(list)
        for other in session.scalars(
            sa.select(Bid).options(selectinload(Bid.scores)).where(Bid.lot_id.in_(decided), Bid.status == "active")
        ):
            lot_bids[other.lot_id].append(other)
        awarded = dict(session.execute(sa.select(Award.lot_id, Award.bid_id).where(Award.lot_id.in_(decided))).all())
        for lot_id, rows in lot_bids.items():
            weights = _weights(rows[0].lot.call)
            offers = [
                scoring.Offer(b.id, b.amount, b.submitted_at, {s.criterion: s.score for s in b.scores}) for b in rows
            ]
            ranked[lot_id] = scoring.rank(offers, weights)
    return {
        b.id: outcomes.bid_outcome(
            b.id,
            b.status,
            b.lot.status,
            awarded.get(b.lot_id),
            ranked.get(b.lot_id, []),
            _weights(b.lot.call),
        )
        for b in bids
    }


def reason_texts(outcome: outcomes.Outcome) -> list[str]:
    """The reasons in the current language, criteria by their labels and points as numbers."""
    from app.calls.forms import CRITERION_LABELS

    texts = []
    for reason in outcome.reasons:
        params = {k: number(v, 2) if isinstance(v, Decimal) else v for k, v in reason.params.items()}
        if "criterion" in params:
            params["criterion"] = str(CRITERION_LABELS.get(params["criterion"], params["criterion"]))
        texts.append(_(reason.message, **params))
    return texts


def standstill(call: Call) -> int:
    """The standstill period of the call, in days (its `standstill_days`, else 11 for a formal procedure)."""
    procedure = call_procedure(call, paris_today())
    return outcomes.standstill_days(procedure.code if procedure else None, call.standstill_days)


@dataclass(frozen=True)
class Letter:
    bid: Bid
    call: Call
    lot: CallLot
    outcome: outcomes.Outcome
    reasons: list[str]
    notice: AwardNotice
    decided_on: date | None
    standstill_days: int
    standstill_end: date | None


def rejection_letter(session: Session, actor, bid_id: int) -> Letter:
    """The letter to the supplier whose bid was not retained: only its own, only once the lot is decided."""
    company = require_supplier(actor)
    bid = session.get(Bid, bid_id)
    missing = NotFound(str(_l("There is no letter for this bid.")))
    if bid is None or bid.supplier_id != company.id:
        raise missing
    outcome = bid_outcomes(session, [bid])[bid.id]
    if outcome.status != "unsuccessful":
        raise missing
    return _letter(session, bid, outcome)


def _letter(session: Session, bid: Bid, outcome: outcomes.Outcome) -> Letter:
    call, lot = bid.lot.call, bid.lot
    notice = award_notices(session, call).get(lot.id) or AwardNotice(lot, None, None, None)
    days = standstill(call) if notice.supplier_name else 0
    decided_on = notice.awarded_at.astimezone(PARIS).date() if notice.awarded_at else None
    return Letter(
        bid=bid,
        call=call,
        lot=lot,
        outcome=outcome,
        reasons=reason_texts(outcome),
        notice=notice,
        decided_on=decided_on,
        standstill_days=days,
        standstill_end=outcomes.standstill_end(decided_on, days) if decided_on else None,
    )


def letter_text(letter: Letter) -> str:
    """The letter as plain text, for the mail (in the language in force)."""
    lines = [
        _(
            "Call for tenders “%(call)s”, lot %(lot)s — %(title)s",
            call=letter.call.title,
            lot=letter.lot.number,
            title=letter.lot.title,
        ),
        "",
        _(
            "We regret to inform you that your offer of %(amount)s excl. VAT (total) was not retained.",
            amount=money(letter.bid.amount),
        ),
        "",
        _("Reasons:"),
        *[f"- {text}" for text in letter.reasons],
    ]
    if letter.notice.supplier_name:
        lines += [
            "",
            _(
                "The lot is awarded to %(supplier)s for %(amount)s excl. VAT (total).",
                supplier=letter.notice.supplier_name,
                amount=money(letter.notice.amount),
            ),
        ]
    if letter.standstill_end:
        lines += [
            "",
            _(
                "The contract will not be signed before the end of a standstill period of %(days)d days, on %(date)s.",
                days=letter.standstill_days,
                date=day(letter.standstill_end, "long"),
            ),
        ]
    return "\n".join(lines)


def mail_letters(session: Session, lot: CallLot) -> int:
    """Queue the letter (sent after the commit) to every user of each supplier whose active bid on the lot was not
    retained; returns how many bids got one."""
    from app.mail import queue_mail

    bids = list(session.scalars(sa.select(Bid).where(Bid.lot_id == lot.id, Bid.status == "active")))
    found = bid_outcomes(session, bids)
    sent = 0
    locale = current_app.config["BABEL_DEFAULT_LOCALE"] if has_app_context() else "fr"
    base = current_app.config.get("PUBLIC_URL", "").rstrip("/") if has_app_context() else ""
    for bid in bids:
        if found[bid.id].status != "unsuccessful":
            continue
        with force_locale(locale):
            letter = _letter(session, bid, found[bid.id])
            body = letter_text(letter)
            subject = _("Mutualis — your offer on “%(call)s”, lot %(lot)s", call=lot.call.title, lot=lot.number)
        for user in supplier_users(session, [bid.supplier_id]):
            queue_mail(session, user.email, subject, f"{body}\n\n{base}/bids/{bid.id}/letter\n")
        sent += 1
    return sent


def award_notices(session: Session, call: Call) -> dict[int, AwardNotice]:
    """Per decided lot: the winner's name and amount, or an unsuccessful lot. Public once the lot is decided."""
    notices: dict[int, AwardNotice] = {}
    awarded = [lot.id for lot in call.lots if lot.status == "awarded"]
    awards = (
        {a.lot_id: a for a in session.scalars(sa.select(Award).where(Award.lot_id.in_(awarded)))} if awarded else {}
    )
    for lot in call.lots:
        if lot.status == "awarded" and lot.id in awards:
            award = awards[lot.id]
            notices[lot.id] = AwardNotice(lot, award.bid.supplier.name, award.bid.amount, award.awarded_at)
        elif lot.status == "unsuccessful":
            notices[lot.id] = AwardNotice(lot, None, None, None)
    return notices


@dataclass(frozen=True)
class SupplierBids:
    bids: list[Bid]  # every version, latest first
    outcomes: dict[int, outcomes.Outcome]
    contracts: list[tuple[Award, list[Contract]]]  # the lots awarded to the supplier, with each member's contract


def supplier_bids(session: Session, actor) -> SupplierBids:
    """The supplier's bids on every call (latest first) with their outcomes, and the lots awarded to it."""
    company = require_supplier(actor)
    bids = list(
        session.scalars(
            sa.select(Bid)
            .options(selectinload(Bid.lot).selectinload(CallLot.call).selectinload(Call.criteria))
            .where(Bid.supplier_id == company.id)
            .order_by(Bid.submitted_at.desc(), Bid.id)
        )
    )
    awards = list(
        session.scalars(
            sa.select(Award)
            .options(selectinload(Award.lot).selectinload(CallLot.call))
            .join(Bid, Award.bid_id == Bid.id)
            .where(Bid.supplier_id == company.id)
            .order_by(Award.awarded_at.desc(), Award.id)
        )
    )
    contracts: dict[int, list[Contract]] = defaultdict(list)
    if awards:
        for contract in session.scalars(
            sa.select(Contract).where(Contract.award_id.in_([a.id for a in awards])).order_by(Contract.amount.desc())
        ):
            contracts[contract.award_id].append(contract)
    return SupplierBids(bids, bid_outcomes(session, bids), [(a, contracts[a.id]) for a in awards])
