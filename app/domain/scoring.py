"""Award arithmetic: the published price formula, weighted criteria, ranking, abnormally low offers.

Price points = lowest amount / amount × price weight (the lowest offer gets the whole weight).
Any other criterion: its score out of 100 × weight / 100. Total out of 100. Ties rank by lower amount,
then by earlier submission.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from statistics import median

from app.domain.text import N_

POINTS = Decimal("0.01")
# An offer is flagged for review (never rejected automatically) when it is below these ratios.
LOW_AGAINST_OTHERS = Decimal("0.70")  # of the median of the lot's other offers (needs at least two others)
LOW_AGAINST_ESTIMATE = Decimal("0.50")  # of the lot's estimated amount


@dataclass(frozen=True)
class Offer:
    bid_id: int
    amount: Decimal
    submitted_at: datetime
    scores: Mapping[str, Decimal]  # criterion → 0..100 (price is computed, not given)


@dataclass(frozen=True)
class Ranked:
    bid_id: int
    rank: int
    amount: Decimal
    points: Mapping[str, Decimal]
    total: Decimal
    complete: bool  # every non-price criterion has a score


def price_points(amount: Decimal, lowest: Decimal, weight: int) -> Decimal:
    if amount <= 0 or lowest <= 0:
        raise ValueError("amounts must be positive")
    return (lowest / amount * weight).quantize(POINTS, rounding=ROUND_HALF_UP)


def criterion_points(score: Decimal, weight: int) -> Decimal:
    if not Decimal(0) <= score <= Decimal(100):
        raise ValueError("a score is between 0 and 100")
    return (Decimal(score) * weight / 100).quantize(POINTS, rounding=ROUND_HALF_UP)


def rank(offers: Sequence[Offer], weights: Mapping[str, int]) -> list[Ranked]:
    """Every offer with its points per criterion, total and rank (1 = best)."""
    if not offers:
        return []
    if sum(weights.values()) != 100 or "price" not in weights:
        raise ValueError("weights must include price and sum to 100")
    lowest = min(o.amount for o in offers)
    rows = []
    for offer in offers:
        points = {"price": price_points(offer.amount, lowest, weights["price"])}
        complete = True
        for name, weight in weights.items():
            if name == "price":
                continue
            score = offer.scores.get(name)
            if score is None:
                complete = False
                points[name] = Decimal("0.00")
            else:
                points[name] = criterion_points(Decimal(score), weight)
        rows.append((offer, points, sum(points.values(), Decimal("0.00")), complete))
    rows.sort(key=lambda row: (-row[2], row[0].amount, row[0].submitted_at, row[0].bid_id))
    return [
        Ranked(offer.bid_id, position, offer.amount, points, total, complete)
        for position, (offer, points, total, complete) in enumerate(rows, start=1)
    ]


def abnormally_low(amount: Decimal, others: Sequence[Decimal], estimate: Decimal | None) -> bool:
    """Flag an offer far below the lot's other offers or its estimate (to be reviewed, as the law requires)."""
    if len(others) >= 2 and amount < Decimal(str(median(others))) * LOW_AGAINST_OTHERS:
        return True
    return bool(estimate and amount < estimate * LOW_AGAINST_ESTIMATE)


def check_weights(criteria: Sequence[tuple[str, int]]) -> list[str]:
    """Problems with a set of criteria (English msgids), empty when valid."""
    problems = []
    names = [name for name, _ in criteria]
    if "price" not in names:
        problems.append(N_("The criteria must include price."))
    if len(set(names)) != len(names):
        problems.append(N_("Each criterion appears once."))
    if any(not isinstance(w, int) or w < 1 or w > 100 for _, w in criteria):
        problems.append(N_("Each weight is a whole number from 1 to 100."))
    elif sum(w for _, w in criteria) != 100:
        problems.append(N_("The weights must add up to 100."))
    return problems
