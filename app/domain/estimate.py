"""The estimated value of a contract (code de la commande publique, R2121-1 and following).

The value every threshold is compared with is the total over the whole life of the contract, excluding VAT: the
yearly amount over the initial duration and every renewal, plus the options. It is a pure function so that needs,
groups, lots and imports compute it the same way.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
RENEWAL_COUNT_MAX = 10
RENEWAL_MONTHS_MAX = 120


def months_in_force(duration_months: int, renewal_count: int = 0, renewal_months: int | None = None) -> int:
    """Initial duration plus every renewal period, in months (a renewal lasts the initial duration by default)."""
    period = duration_months if renewal_months is None else renewal_months
    return duration_months + renewal_count * period


def estimated_value(
    annual: Decimal,
    duration_months: int,
    renewal_count: int = 0,
    renewal_months: int | None = None,
    options: Decimal = Decimal("0.00"),
) -> Decimal:
    """annual × (duration + renewals × renewal period) / 12 + options, to the cent (half up)."""
    months = months_in_force(duration_months, renewal_count, renewal_months)
    return (Decimal(annual) * months / 12 + Decimal(options or 0)).quantize(CENT, rounding=ROUND_HALF_UP)
