"""CPV look-ups: search by code prefix or words (accent- and case-insensitive), labels, existence."""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.domain.text import fold
from app.reference.models import CpvCode

MAX_RESULTS = 50
_DIGITS = re.compile(r"^\d{1,8}(-\d)?$")


def search_cpv(session: Session, query: str, *, lang: str = "fr", limit: int = 20) -> list[CpvCode]:
    """Codes whose code starts with the digits typed, or whose French or English label has every word typed."""
    limit = max(1, min(int(limit), MAX_RESULTS))
    text = (query or "").strip()
    stmt = sa.select(CpvCode)
    if not text:
        return list(session.scalars(stmt.where(CpvCode.level == "division").order_by(CpvCode.code).limit(limit)))
    if _DIGITS.match(text):
        digits = text.split("-")[0]
        stmt = stmt.where(CpvCode.code.startswith(digits, autoescape=True))
        return list(session.scalars(stmt.order_by(CpvCode.code).limit(limit)))
    # Every word typed must appear in the French or in the English label (either language finds the code;
    # the label shown follows the interface language).
    words = [w for w in re.split(r"[\s,;'’\-]+", fold(text)) if w][:8]
    in_french = sa.and_(*(CpvCode.search_fr.contains(w, autoescape=True) for w in words))
    in_english = sa.and_(*(CpvCode.search_en.contains(w, autoescape=True) for w in words))
    stmt = stmt.where(sa.or_(in_french, in_english))
    # General codes first: a division before its sub-categories.
    order = sa.case({"division": 0, "group": 1, "class": 2, "category": 3}, value=CpvCode.level, else_=4)
    return list(session.scalars(stmt.order_by(order, CpvCode.code).limit(limit)))


def unknown_codes(session: Session, codes: Iterable[str]) -> list[str]:
    wanted = {c.split("-")[0].strip() for c in codes if c}
    if not wanted:
        return []
    found = set(session.scalars(sa.select(CpvCode.code).where(CpvCode.code.in_(wanted))))
    return sorted(wanted - found)


def labels(session: Session, codes: Iterable[str], lang: str = "fr") -> dict[str, str]:
    wanted = set(codes)
    if not wanted:
        return {}
    column = CpvCode.label_en if lang == "en" else CpvCode.label_fr
    return dict(session.execute(sa.select(CpvCode.code, column).where(CpvCode.code.in_(wanted))).all())


def all_labels(session: Session, lang: str = "fr") -> dict[str, str]:
    column = CpvCode.label_en if lang == "en" else CpvCode.label_fr
    return dict(session.execute(sa.select(CpvCode.code, column)).all())
