"""Contracts after the award, without a database: each member's share of an awarded value, the status of a contract
by the calendar, the standstill period, the consumption of a framework agreement against its maximum, the cumulative
change of amendments (R2194-1 to R2194-10) and the renewal radar's dates.

Amounts are Decimal euros excluding VAT ("HT"); dates are Paris calendar days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

from app.domain.outcomes import FORMAL_STANDSTILL_DAYS
from app.domain.text import N_
from app.domain.timeline import timeline

CENT = Decimal("0.01")
KINDS = ("contract", "framework")
STATUSES = ("standstill", "to_sign", "signed", "running", "ended")
STORED_STATUSES = ("standstill", "to_sign", "signed")  # running and ended follow from the dates

# Code de la commande publique R2182-1: 11 days between the information of the unsuccessful bidders and the
# signature, for formal procedures (16 days when the information is not sent electronically); the rule lives in
# app.domain.outcomes.
DEFAULT_STANDSTILL_DAYS = FORMAL_STANDSTILL_DAYS
# R2194-8: a modification below the European thresholds and below 10 % of the initial value (15 % for works) is
# never substantial; R2194-3 and R2194-5: each modification for supplementary or unforeseeable needs at most 50 %.
DE_MINIMIS_PCT = {"works": Decimal("15"), "supplies_services": Decimal("10"), "social_services": Decimal("10")}
PER_MODIFICATION_CAP_PCT = Decimal("50")
# L2125-1 and R2162-4: a framework agreement lasts at most four years (save exceptions the buyer justifies).
FRAMEWORK_MAX_MONTHS = 48
CONSUMPTION_ALERTS = (80, 100)

WARN_DE_MINIMIS = N_(
    "The amendments change the initial value by %(pct)s %%, beyond %(limit)s %% (R2194-8): justify them under "
    "another ground (a review clause R2194-1, supplementary services R2194-2, unforeseeable circumstances R2194-5) "
    "or they are a substantial modification (R2194-7)."
)
WARN_EU_THRESHOLD = N_(
    "The cumulative change (%(amount)s € HT) reaches the European threshold (%(threshold)s € HT): the de minimis "
    "ground of R2194-8 does not apply."
)
WARN_PER_MODIFICATION = N_(
    "This amendment alone changes the initial value by %(pct)s %%, beyond 50 %% (R2194-3 and R2194-5)."
)
WARN_FRAMEWORK_DURATION = N_(
    "With this amendment the framework agreement lasts %(months)s months, beyond four years (R2162-4)."
)
WARN_SHORT_STANDSTILL = N_(
    "The standstill period is %(days)s days: formal procedures need at least 11 days between the information of "
    "the unsuccessful bidders and the signature (R2182-1)."
)


def split_amount(amount: Decimal, weights: dict[int, Decimal]) -> dict[int, Decimal]:
    """`amount` split in proportion to `weights`, to the cent, adding up exactly to `amount` (largest remainder:
    each part is rounded down, the cents left go to the largest remainders, ties to the smallest key)."""
    total = sum(weights.values(), Decimal(0))
    if amount.quantize(CENT) != amount:
        raise ValueError(f"an amount to the cent, not {amount}")
    if not weights or total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError("positive weights are needed to split an amount")
    exact = {key: amount * weight / total for key, weight in weights.items()}
    parts = {key: value.quantize(CENT, ROUND_DOWN) for key, value in exact.items()}
    left = int((amount - sum(parts.values(), Decimal(0))) / CENT)
    by_remainder = sorted(exact, key=lambda key: (-(exact[key] - parts[key]), key))
    for key in by_remainder[:left]:
        parts[key] += CENT
    return parts


def share_ratio(weight: Decimal, total: Decimal) -> Decimal:
    return (weight / total).quantize(Decimal("0.000001"), ROUND_HALF_UP)


def standstill_end(awarded_on: date, days: int) -> date:
    """The last day of the standstill that starts the day after the award is made known."""
    return awarded_on + timedelta(days=days)


def standstill_warnings(procedure_code: str | None, days: int | None) -> list[tuple[str, dict]]:
    if procedure_code == "formal" and days is not None and days < DEFAULT_STANDSTILL_DAYS:
        return [(WARN_SHORT_STANDSTILL, {"days": days})]
    return []


def effective_status(stored: str, today: date, starts_on: date, ends_on: date, standstill_ends_on: date | None) -> str:
    """The status by the calendar: a standstill that is over makes the contract ready to sign; a signed contract
    runs from its start to its end, then is ended."""
    if stored == "standstill":
        return "standstill" if standstill_ends_on is not None and today <= standstill_ends_on else "to_sign"
    if stored == "signed":
        if today > ends_on:
            return "ended"
        return "running" if today >= starts_on else "signed"
    return stored


def consumption_pct(ordered: Decimal, ceiling: Decimal) -> Decimal:
    if ceiling <= 0:
        return Decimal("100.0")
    return (ordered * 100 / ceiling).quantize(Decimal("0.1"), ROUND_HALF_UP)


def crossed_alerts(before: Decimal, after: Decimal, ceiling: Decimal) -> list[int]:
    """The consumption alerts (80 %, 100 %) an order from `before` to `after` crosses."""
    return [level for level in CONSUMPTION_ALERTS if before * 100 < ceiling * level <= after * 100]


@dataclass(frozen=True)
class AmendmentCheck:
    cumulative_delta: Decimal
    cumulative_change_pct: Decimal
    warnings: list[tuple[str, dict]]


def pct_of(delta: Decimal, initial: Decimal) -> Decimal:
    if initial <= 0:
        return Decimal("0.00")
    return (delta * 100 / initial).quantize(CENT, ROUND_HALF_UP)


def check_amendment(
    initial: Decimal,
    earlier_deltas: list[Decimal],
    delta: Decimal,
    nature: str,
    *,
    eu_threshold: Decimal | None = None,
    kind: str = "contract",
    months_after: int | None = None,
) -> AmendmentCheck:
    """The cumulative change of the amendments so far plus this one against the initial value, with the warnings
    of R2194-1 to R2194-10: beyond the de minimis percentage of the nature (10 % supplies and services, 15 % works),
    beyond the European threshold, one modification beyond 50 %, a framework agreement beyond four years.
    The cumulative change counts increases and decreases as absolute values (R2194-9: successive modifications
    are assessed on their cumulated amount)."""
    cumulative = sum((abs(d) for d in earlier_deltas), Decimal(0)) + abs(delta)
    net = sum(earlier_deltas, Decimal(0)) + delta
    pct = pct_of(cumulative, initial)
    warnings: list[tuple[str, dict]] = []
    limit = DE_MINIMIS_PCT.get(nature, Decimal("10"))
    if pct > limit:
        warnings.append((WARN_DE_MINIMIS, {"pct": _pct(pct), "limit": _pct(limit)}))
    if eu_threshold is not None and cumulative >= eu_threshold:
        warnings.append((WARN_EU_THRESHOLD, {"amount": f"{cumulative:.2f}", "threshold": f"{eu_threshold:.2f}"}))
    single = pct_of(abs(delta), initial)
    if single > PER_MODIFICATION_CAP_PCT:
        warnings.append((WARN_PER_MODIFICATION, {"pct": _pct(single)}))
    if kind == "framework" and months_after is not None and months_after > FRAMEWORK_MAX_MONTHS:
        warnings.append((WARN_FRAMEWORK_DURATION, {"months": months_after}))
    return AmendmentCheck(net, pct, warnings)


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f}"


@dataclass(frozen=True)
class RenewalDates:
    required_start: date  # the day the next contract must start: the day after this one ends
    procedure_start_by: date  # the day the next procedure must start, by its minimum periods
    late: bool


def renewal_dates(ends_on: date, procedure_code: str, today: date) -> RenewalDates:
    """Worked back from the day after the end, through the steps of the procedure (convention, preparation,
    publication with its minimum period, evaluation, standstill, notification)."""
    required = ends_on + timedelta(days=1)
    steps = timeline(procedure_code, required, today=today)
    start_by = steps[0].starts_on if steps else required
    return RenewalDates(required, start_by, start_by < today)


def yearly_run_rate(
    ordered: Decimal, amount: Decimal, starts_on: date, ends_on: date, today: date, kind: str
) -> Decimal:
    """What the member spends a year under the contract: for a framework agreement with orders, the orders over
    the months elapsed; otherwise the contract value over its duration."""
    months = max(_months_between(starts_on, ends_on), 1)
    if kind == "framework" and ordered > 0:
        elapsed = min(max(_months_between(starts_on, min(today, ends_on)), 1), months)
        return (ordered * 12 / elapsed).quantize(CENT, ROUND_HALF_UP)
    return (amount * 12 / months).quantize(CENT, ROUND_HALF_UP)


def _months_between(start: date, end: date) -> int:
    """Whole months from `start` to the day after `end` (a contract from 1 Sep to 31 Aug three years on: 36)."""
    delta = relativedelta(end + timedelta(days=1), start)
    return delta.years * 12 + delta.months + (1 if delta.days >= 15 else 0)


def contract_months(starts_on: date, ends_on: date) -> int:
    return max(_months_between(starts_on, ends_on), 1)
