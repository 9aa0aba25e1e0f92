"""The CPV 2008 hierarchy (Regulation (EC) No 213/2008), as pure functions on 8-digit codes.

A code has 8 digits and a check digit. Its level follows from its significant digits:
two for a division (45000000), three for a group (45200000), four for a class (45210000),
five for a category (45212000), more for a sub-category.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LEVELS = ("division", "group", "class", "category", "subcategory")
# Digits of the prefix that identifies a node of each level (sub-categories use the whole code).
PREFIX_LENGTH = {"division": 2, "group": 3, "class": 4, "category": 5, "subcategory": 8}
OVERLAP_LEVELS = ("division", "group", "class", "category")

_CODE = re.compile(r"^\s*(\d{8})(?:\s*-\s*(\d))?\s*$")
WORKS_DIVISION = "45"


class InvalidCpvCode(ValueError):
    """A string that is not shaped like a CPV code."""


@dataclass(frozen=True)
class CpvCode:
    code: str
    check_digit: str | None


def parse_code(raw: str) -> CpvCode:
    """Accept '09310000', '09310000-5' or ' 09310000 - 5 '; refuse anything else."""
    match = _CODE.match(str(raw or ""))
    if not match:
        raise InvalidCpvCode(raw)
    return CpvCode(match.group(1), match.group(2))


def level_of(code: str) -> str:
    significant = len(code.rstrip("0"))
    if significant <= 2:
        return "division"
    if significant == 3:
        return "group"
    if significant == 4:
        return "class"
    if significant == 5:
        return "category"
    return "subcategory"


def prefix(code: str, level: str) -> str:
    """The prefix identifying the ancestor of `code` at `level` ('09310000', 'class' -> '0931')."""
    if level not in PREFIX_LENGTH:
        raise ValueError(f"unknown CPV level {level!r}")
    return code[: PREFIX_LENGTH[level]]


def code_of_prefix(prefix_digits: str) -> str:
    """The 8-digit code of the node a prefix names ('0931' -> '09310000')."""
    return prefix_digits.ljust(8, "0")


def search_prefix(raw: str | None) -> str | None:
    """The prefix a code or prefix typed by a user covers: '0931' -> '0931'; a whole code stands for its node,
    '09310000-5' -> '0931' (09300000 covers 093xxxxx). None unless it has 2 to 8 digits."""
    digits = (raw or "").split("-")[0].strip()
    if not digits.isdigit() or not 2 <= len(digits) <= 8:
        return None
    return digits.rstrip("0").ljust(2, "0") if len(digits) == 8 else digits


def is_works(code: str) -> bool:
    """Division 45 is construction work; everything else is supplies or services."""
    return code.startswith(WORKS_DIVISION)


def is_within(code: str, ancestor: str) -> bool:
    """True when `code` is `ancestor` or lies below it in the hierarchy."""
    return code.startswith(ancestor.rstrip("0") or ancestor[:2])
