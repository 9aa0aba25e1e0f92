"""Checks of the cells of an imported spreadsheet, shared by the needs import and the spend import.

`RowChecker` runs a parser on each cell of a row and collects a `Message` (row, column, reason) for every cell that
is missing or wrong, so that a file is reported in full, not stopped at its first problem. The parsers below take the
cell's text and return the clean value or raise `CellError`; those that repair what spreadsheets do to codes (a
dropped leading zero) say so, and the import tells the user once with `repair_note`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.domain import cpv
from app.domain.tabular import CellError, Message
from app.domain.text import N_

# Numeric(14, 2): twelve digits before the decimal point, far above any annual public purchase.
AMOUNT_MAX = Decimal("999999999999.99")

MISSING = N_("This column must be filled in.")
CPV_ZERO_RESTORED = N_(
    "The leading zero of %(count)s CPV code(s) was restored (spreadsheets drop it), starting at row %(row)s."
)
POSTCODE_ZERO_RESTORED = N_(
    "The leading zero of %(count)s postcode(s) was restored (spreadsheets drop it), starting at row %(row)s."
)


@dataclass(frozen=True)
class ImportColumn:
    """One column of an import file; `label_fr`/`label_en` are the template headers, `aliases` other accepted ones."""

    name: str
    label_fr: str
    label_en: str
    aliases: tuple[str, ...] = ()
    required: bool = False

    @property
    def accepted(self) -> tuple[str, ...]:
        return (self.label_fr, self.label_en, *self.aliases)


class RowChecker:
    """Parse the cells of one row; every problem becomes a Message in `errors`, and the cell's value None.

    `missing(column)` gives the reason for an empty required cell (by default: "This column must be filled in.").
    """

    def __init__(self, row: int, cells: Mapping[str, str], missing: Callable[[str], str] | None = None):
        self.row = row
        self.cells = cells
        self.errors: list[Message] = []
        self._missing = missing or (lambda column: MISSING)

    def __call__(self, column: str, parser: Callable[[str], Any], *, required: bool = False) -> Any:
        text = self.cells.get(column, "")
        if not text:
            if required:
                self.errors.append(Message(self.row, column, self._missing(column), {}))
            return None
        try:
            return parser(text)
        except CellError as exc:
            self.errors.append(Message(self.row, column, exc.message, exc.params))
            return None


def repair_note(rows: list[int], column: str, message: str, **params) -> list[Message]:
    """One note for a repair made on several rows, with how many and the first (none when no row was repaired)."""
    if not rows:
        return []
    return [Message(rows[0], column, message, {"count": len(rows), "row": rows[0], **params})]


def checked_length(text: str, maximum: int) -> str:
    if len(text) > maximum:
        raise CellError(
            N_("This text is too long: %(length)s characters, at most %(max)s."), {"length": len(text), "max": maximum}
        )
    return text


def checked_range(
    value: Decimal, text: str, *, zero_allowed: bool, maximum: Decimal, too_small: str, too_large: str
) -> Decimal:
    """The value when it is positive (or zero, if allowed) and at most `maximum`; the messages get %(value)s."""
    if value < 0 or (value == 0 and not zero_allowed):
        raise CellError(too_small, {"value": text})
    if value > maximum:
        raise CellError(too_large, {"value": text})
    return value


_SEVEN_DIGITS = re.compile(r"^\d{7}(?:\s*-\s*\d)?$", re.ASCII)


def parse_cpv(text: str) -> tuple[cpv.CpvCode, bool]:
    """A CPV code as typed, and whether its leading zero was restored ("09310000" typed in Excel becomes 9310000).

    Whether the code exists is for the caller to check (`unknown_cpv` says it does not)."""
    zero_restored = bool(_SEVEN_DIGITS.match(text))
    raw = "0" + text if zero_restored else text
    try:
        return cpv.parse_code(raw), zero_restored
    except cpv.InvalidCpvCode as exc:
        raise CellError(
            N_(
                "“%(value)s” is not a CPV code: expected 8 digits, optionally followed by a dash "
                "and a check digit (for instance 09310000-5)."
            ),
            {"value": text},
        ) from exc


def unknown_cpv(code: str) -> CellError:
    return CellError(N_("The CPV code %(code)s does not exist in the CPV 2008 nomenclature."), {"code": code})


_POSTCODE = re.compile(r"^\d{5}$", re.ASCII)
_FOUR_DIGITS = re.compile(r"^\d{4}$", re.ASCII)


def parse_postcode(text: str) -> tuple[str, bool]:
    """A French postcode (5 digits, département 01-95 with Corsica 20, overseas 97 or 98), and whether its leading
    zero was restored ("01000" read back by Excel as 1000)."""
    value = re.sub(r"\s+", "", text)
    zero_restored = bool(_FOUR_DIGITS.match(value)) and value[0] != "0"
    if zero_restored:
        value = "0" + value
    if not _POSTCODE.match(value) or not (1 <= int(value[:2]) <= 95 or value[:2] in ("97", "98")):
        raise CellError(N_("“%(value)s” is not a French postcode (5 digits)."), {"value": text})
    return value, zero_restored
