"""After the deadline: scoring the bids, ranking them by the published weights, awarding each lot (one contract per
member) or declaring it unsuccessful."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from app.actors import SEE_ALL, require_role
from app.audit.services import record
from app.calls.models import Award, Bid, BidScore, Call, CallLot, Contract
from app.calls.services.access import require_coordinator, supplier_users
from app.calls.services.bids import list_bids, require_unsealed
from app.calls.services.deadlines import ensure_closed
from app.calls.services.outcomes import mail_letters
from app.calls.services.sealing import require_opened
from app.calls.values import call_procedure, contract_period
from app.clock import PARIS, paris_today, utcnow
from app.domain import contracts as contract_rules
from app.domain import outcomes as outcome_rules
from app.domain import scoring
from app.domain.text import N_
from app.errors import Conflict, NotFound, ValidationFailed
from app.notifications.services import buyers_of, coordinators_of, notify
from app.organizations.models import Organization

MSG_AWARDED_WIN = N_("Lot %(lot)s of “%(call)s” is awarded to you (rank 1 of %(count)s).")
MSG_AWARDED_MEMBERS = N_("Lot %(lot)s of “%(call)s” is awarded to %(supplier)s.")
MSG_AWARDED_LOSS = N_(
    "Lot %(lot)s of “%(call)s” is awarded to another supplier; your bid ranked %(rank)s of %(count)s."
)


def _require_closed(session: Session, call: Call) -> None:
    ensure_closed(session, call)
    if call.status not in ("closed", "evaluated"):
        raise Conflict("call_not_closed", str(_l("Bids can be evaluated only after the deadline, before the award.")))
    require_opened(call)


def _score_problems(call: Call, scores: dict, prefix: str) -> dict[str, list[str]]:
    names = {c.name for c in call.criteria if c.name != "price"}
    reasons: dict[str, list[str]] = {}
    for name, value in scores.items():
        if name not in names:
            reasons[f"{prefix}{name}"] = [str(_l("Not a scored criterion of this call (price is computed)."))]
        elif (
            not isinstance(value, int | Decimal)
            or not 0 <= value <= 100
            or Decimal(value) != Decimal(value).quantize(Decimal("0.01"))
        ):
            reasons[f"{prefix}{name}"] = [str(_l("A score from 0 to 100."))]
    return reasons


def _apply_scores(bid: Bid, scores: dict, actor) -> None:
    existing = {s.criterion: s for s in bid.scores}
    for name, value in scores.items():
        if name in existing:
            existing[name].score, existing[name].scored_by_id = Decimal(value), actor.id
            existing[name].scored_at = utcnow()
        else:
            bid.scores.append(BidScore(criterion=name, score=Decimal(value), scored_by_id=actor.id))


def _mark_evaluated(session: Session, actor, call: Call) -> None:
    if all(r.complete for rows in ranking(session, actor, call).values() for r, _ in rows):
        call.status = "evaluated"
        session.flush()


def score_bid(session: Session, actor, call: Call, bid_id: int, scores: dict) -> Bid:
    """The coordinator scores a bid on every criterion but price (computed by the published formula)."""
    require_coordinator(actor)
    _require_closed(session, call)
    bid = session.get(Bid, bid_id)
    if bid is None or bid.call_id != call.id or bid.status != "active":
        raise NotFound(str(_l("This bid does not exist.")))
    if bid.lot.status != "open":  # the ranking the bidders were told stays as it was
        raise Conflict("lot_already_decided", str(_l("This lot is already awarded or unsuccessful.")))
    reasons = _score_problems(call, scores, "scores.")
    if reasons:
        raise ValidationFailed(reasons)
    _apply_scores(bid, scores, actor)
    session.flush()
    record(session, actor, "bid.scored", bid, call_id=call.id, lot_id=bid.lot_id, criteria=sorted(scores))
    _mark_evaluated(session, actor, call)
    return bid


def score_lot(session: Session, actor, call: Call, lot_id: int, scores: dict[int, dict]) -> list[Bid]:
    """The coordinator scores every bid of a lot at once: all the scores are saved, or none (reasons keyed
    `scores.<bid id>.<criterion>`)."""
    require_coordinator(actor)
    _require_closed(session, call)
    lot = next((lot for lot in call.lots if lot.id == lot_id), None)
    if lot is None:
        raise NotFound(str(_l("This lot is not part of the call.")))
    if lot.status != "open":
        raise Conflict("lot_already_decided", str(_l("This lot is already awarded or unsuccessful.")))
    bids = {
        b.id: b
        for b in session.scalars(
            sa.select(Bid).where(Bid.lot_id == lot.id, Bid.status == "active").options(selectinload(Bid.scores))
        )
    }
    reasons: dict[str, list[str]] = {}
    for bid_id, given in scores.items():
        if bid_id not in bids:
            reasons[f"scores.{bid_id}"] = [str(_l("This bid is not an active bid on this lot."))]
        else:
            reasons.update(_score_problems(call, given, f"scores.{bid_id}."))
    if not any(scores.values()):
        reasons["scores"] = [str(_l("Give at least one score from 0 to 100."))]
    if reasons:
        raise ValidationFailed(reasons)
    scored = []
    for bid_id, given in scores.items():
        if given:
            _apply_scores(bids[bid_id], given, actor)
            scored.append(bids[bid_id])
    session.flush()
    for bid in scored:
        record(session, actor, "bid.scored", bid, call_id=call.id, lot_id=lot.id, criteria=sorted(scores[bid.id]))
    _mark_evaluated(session, actor, call)
    return scored


def ranking(
    session: Session, actor, call: Call, bids: list[Bid] | None = None
) -> dict[int, list[tuple[scoring.Ranked, Bid]]]:
    """Per lot: the active bids ranked by the weighted criteria. `bids`: the call's bids as `list_bids` gave them to
    this actor, when the caller already has them (not listed again)."""
    require_role(actor, ("buyer", *SEE_ALL), "")
    require_unsealed(call)
    ensure_closed(session, call)
    require_opened(call)
    weights = {c.name: c.weight for c in call.criteria}
    if bids is None:
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
    require_coordinator(actor)
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
    terms = contract_terms(call, award.awarded_at.astimezone(PARIS).date(), paris_today())
    for organization_id, share, amount in _member_shares(call, lot, chosen[1].amount):
        session.add(
            Contract(
                award_id=award.id,
                organization_id=organization_id,
                supplier_id=chosen[1].supplier_id,
                amount=amount,
                share=share,
                kind=call.contract_kind or "contract",
                status=terms.status,
                starts_on=terms.starts_on,
                ends_on=terms.ends_on,
                standstill_ends_on=terms.standstill_ends_on,
            )
        )
    count = len(ranked)
    for r, b in ranked:
        users = supplier_users(session, [b.supplier_id])
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
                f"/bids/{b.id}/letter",
                mail=False,  # the letter below is their mail
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
    mail_letters(session, lot)
    record(session, actor, "lot.awarded", award, call_id=call.id, lot_id=lot.id, lot=lot.number, bid_id=bid_id)
    return award


def _member_shares(call: Call, lot: CallLot, amount: Decimal) -> list[tuple[int, Decimal, Decimal]]:
    """Each member's share of the lot: from the group lot's shares, or the members' totals in the group; the parts
    are to the cent and add up exactly to the awarded amount."""
    weights: dict[int, Decimal] = {}
    if lot.group_lot is not None and lot.group_lot.shares:
        for share in lot.group_lot.shares:
            weights[share.organization_id] = weights.get(share.organization_id, Decimal(0)) + share.total_amount
    else:
        for gn in call.group.group_needs:
            if gn.included:
                weights[gn.organization_id] = weights.get(gn.organization_id, Decimal(0)) + gn.total_amount
    weights = {key: weight for key, weight in weights.items() if weight > 0}
    total = sum(weights.values(), Decimal(0))
    if not total:
        return []
    parts = contract_rules.split_amount(amount, weights)
    return [(key, contract_rules.share_ratio(weights[key], total), parts[key]) for key in sorted(weights)]


@dataclass(frozen=True)
class ContractTerms:
    status: str
    starts_on: date
    ends_on: date
    standstill_ends_on: date | None


def contract_terms(call: Call, awarded_on: date, today: date) -> ContractTerms:
    """The dates and first status of the contracts of an award: from the call's contract period (the needs brought;
    the convention's duration from the award when none is counted), and the standstill (formal procedures: the call's
    `standstill_days`, 11 by default; others only when the call sets one) that starts with the award."""
    period = contract_period(call)
    if period is not None:
        starts_on, ends_on = period.start, period.end
    else:
        starts_on = awarded_on
        ends_on = awarded_on + relativedelta(months=call.group.convention_duration_months) - relativedelta(days=1)
    procedure = call_procedure(call, today)
    days = outcome_rules.standstill_days(procedure.code if procedure else None, call.standstill_days)
    if days:
        return ContractTerms("standstill", starts_on, ends_on, contract_rules.standstill_end(awarded_on, days))
    return ContractTerms("to_sign", starts_on, ends_on, None)


def declare_unsuccessful(session: Session, actor, call: Call, lot_id: int) -> None:
    require_coordinator(actor)
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
    mail_letters(session, lot)
    record(session, actor, "lot.unsuccessful", lot, call_id=call.id, lot=lot.number)


def contracts_of(session: Session, call: Call) -> list[Contract]:
    return list(
        session.scalars(
            sa.select(Contract)
            .join(Award)
            .join(CallLot, Award.lot_id == CallLot.id)
            .join(Organization, Contract.organization_id == Organization.id)
            .where(CallLot.call_id == call.id)
            .order_by(CallLot.number, Organization.code)
        )
    )
