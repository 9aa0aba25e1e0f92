"""The ranges every input is held to, on pages, in the API and in imports: what the columns can store and what
makes sense for public purchasing. Anything outside is refused with a message naming the field, never passed on to
the database (where it would fail as a server error)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

# Money columns are NUMERIC(14, 2): euros excluding VAT, up to 999 999 999 999.99.
MIN_AMOUNT = Decimal("0.00")
MAX_AMOUNT = Decimal("999999999999.99")
# Dates a contract, a deliberation or a call can have.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
# Ids a client may send (BIGINT); counts and versions (INTEGER).
MAX_ID = 2**63 - 1
MAX_INT = 2**31 - 1
# Free texts without a column length of their own (TEXT columns).
MAX_TEXT = 20_000

# NUL (PostgreSQL refuses it in text) and UTF-16 surrogates (no UTF-8 encoding exists for a lone one).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(value: str) -> bool:
    """True when the text holds a character no database column can store."""
    return bool(_UNSTORABLE.search(value))


def day_in_range(value: date) -> bool:
    return FIRST_DAY <= value <= LAST_DAY


def amount_in_range(value: Decimal) -> bool:
    return MIN_AMOUNT <= value <= MAX_AMOUNT
