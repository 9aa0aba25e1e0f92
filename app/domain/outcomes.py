"""What a bidder learns once its lot is decided: its outcome, its rank and points, the reasons, and the standstill
period before the contract is signed.

French rules (Code de la commande publique): the buyer tells every unsuccessful bidder that its offer is rejected
and why (R2181-1, R2181-3); for a compliant offer, the name of the successful bidder, the retained offer's relative
advantages and its amount. In a formal procedure the contract is not signed before a standstill period
("délai de suspension") after that letter is sent: 11 days when sent electronically (R2182-1). Nothing else of the
other offers is told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from app.domain.scoring import Ranked
from app.domain.text import N_

FORMAL_STANDSTILL_DAYS = 11  # R2182-1, the letter sent electronically

OUTCOME_STATUSES = ("active", "replaced", "withdrawn", "awarded", "unsuccessful")

REASON_RANK = N_(
    "Your offer ranked %(rank)s of %(count)s with %(total)s points out of 100; the retained offer scored "
    "%(winner_total)s points."
)
REASON_CRITERION = N_("%(criterion)s: %(own)s points against %(winner)s for the retained offer (out of %(weight)s).")
REASON_SET_ASIDE = N_(
    "Your offer was ranked higher but set aside as abnormally low, after its justification was examined."
)
REASON_LOT_UNSUCCESSFUL = N_("No offer was retained: the lot was declared unsuccessful.")


def standstill_days(procedure_code: str | None, call_setting: int | None = None) -> int:
    """Days between the letter to unsuccessful bidders and the signature: the call's own setting when it has one,
    else 11 for a formal procedure and none for an adapted one (the one place this rule lives)."""
    if call_setting is not None:
        return call_setting
    return FORMAL_STANDSTILL_DAYS if procedure_code == "formal" else 0


def standstill_end(notified_on: date, days: int) -> date | None:
    """The last day of the standstill period, `days` days after the letter: the contract is signed after it (None
    when no period applies)."""
    if days <= 0:
        return None
    return notified_on + timedelta(days=days)


@dataclass(frozen=True)
class Reason:
    message: str  # a msgid, translated by whoever shows it
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    status: str  # one of OUTCOME_STATUSES
    rank: int | None = None
    count: int | None = None  # how many offers were ranked on the lot
    points: Mapping[str, Decimal] = field(default_factory=dict)
    total: Decimal | None = None
    reasons: tuple[Reason, ...] = ()


def bid_outcome(
    bid_id: int,
    bid_status: str,
    lot_status: str,
    awarded_bid_id: int | None,
    ranked: list[Ranked],
    weights: Mapping[str, int],
) -> Outcome:
    """The outcome of one bid, from its own status, its lot's, the bid awarded and the lot's ranking.

    Before the lot is decided (or for a bid replaced or withdrawn) only the bid's own status is told: no rank."""
    if bid_status != "active" or lot_status == "open":
        return Outcome(bid_status)
    own = next((r for r in ranked if r.bid_id == bid_id), None)
    count = len(ranked)
    rank = own.rank if own else None
    points = dict(own.points) if own else {}
    total = own.total if own else None
    if lot_status == "unsuccessful" or awarded_bid_id is None:
        return Outcome("unsuccessful", rank, count, points, total, (Reason(REASON_LOT_UNSUCCESSFUL),))
    if awarded_bid_id == bid_id:
        return Outcome("awarded", rank, count, points, total)
    winner = next((r for r in ranked if r.bid_id == awarded_bid_id), None)
    reasons: list[Reason] = []
    if own is not None and winner is not None:
        if own.rank < winner.rank:
            reasons.append(Reason(REASON_SET_ASIDE))
        reasons.append(
            Reason(REASON_RANK, {"rank": own.rank, "count": count, "total": own.total, "winner_total": winner.total})
        )
        for name, weight in weights.items():
            mine, theirs = own.points.get(name), winner.points.get(name)
            if mine is not None and theirs is not None and mine < theirs:
                reasons.append(
                    Reason(REASON_CRITERION, {"criterion": name, "own": mine, "winner": theirs, "weight": weight})
                )
    return Outcome("unsuccessful", rank, count, points, total, tuple(reasons))
