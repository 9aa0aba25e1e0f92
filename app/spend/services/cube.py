"""The spend cube as SQL GROUP BY over the cells (pre-aggregated at import, amounts in cents): organizations × CPV
prefix × year, with amount, lines and distinct suppliers; and the helpers the other aggregates share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from app.domain.cpv import OVERLAP_LEVELS, PREFIX_LENGTH
from app.errors import ValidationFailed
from app.organizations.models import Organization
from app.reference.models import CpvCode
from app.spend.models import SpendCell
from app.spend.services.access import reader_scope

LEVELS = OVERLAP_LEVELS  # division, group, class, category
CELL_PREFIX = PREFIX_LENGTH["category"]
IN_BATCH = 500  # values per SQL IN (...) list


def organization_codes(session: Session) -> dict[int, str]:
    return dict(session.execute(sa.select(Organization.id, Organization.code)).all())


def euros(cents) -> Decimal:
    return Decimal(int(cents)) / 100


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValidationFailed({"level": [str(_l("The level is division, group, class or category."))]})
    return level


def check_year(year) -> int | None:
    if year in (None, ""):
        return None
    if not isinstance(year, int) or not 1990 <= year <= 2200:
        raise ValidationFailed({"year": [str(_l("The year has four digits, for example 2025."))]})
    return year


def cpv_labels(session: Session, prefixes: Iterable[str], lang: str) -> dict[str, str]:
    codes = {p: p.ljust(8, "0") for p in prefixes}
    if not codes:
        return {}
    column = CpvCode.label_en if lang == "en" else CpvCode.label_fr
    found = dict(session.execute(sa.select(CpvCode.code, column).where(CpvCode.code.in_(set(codes.values())))).all())
    return {prefix: found.get(code, "") for prefix, code in codes.items()}


@dataclass(frozen=True)
class CubeItem:
    cpv_prefix: str
    label: str
    organization: str
    year: int
    amount: Decimal
    lines: int
    suppliers: int


class _SumOfCents(FunctionElement):
    """The sum of the cells' amounts in integer cents, exact on both databases: SQLite keeps a NUMERIC amount as a
    float, so each one is rounded to cents before it is added; PostgreSQL adds its exact NUMERIC(14, 2) amounts and
    the sum is multiplied once (a cast and a rounding per cell cost it more than the whole GROUP BY)."""

    type = sa.BigInteger()
    name = "sum_of_cents"
    inherit_cache = True


@compiles(_SumOfCents)
def _sum_of_cents(element, compiler, **kw):
    (amount,) = element.clauses
    return compiler.process(sa.func.sum(sa.cast(sa.func.round(amount * 100), sa.BigInteger)), **kw)


@compiles(_SumOfCents, "postgresql")
def _sum_of_cents_postgresql(element, compiler, **kw):
    (amount,) = element.clauses
    return compiler.process(sa.cast(sa.func.sum(amount) * 100, sa.BigInteger), **kw)


def cell_cents() -> _SumOfCents:
    """The cells' sum(amount) in integer cents: an aggregate, for a GROUP BY over the cells."""
    return _SumOfCents(SpendCell.amount)


def in_scope(stmt: sa.Select, scope: list[int] | None, year: int | None) -> sa.Select:
    """The cells of the organizations in scope (None: all) and of the year (None: all)."""
    if scope is not None:
        stmt = stmt.where(SpendCell.organization_id.in_([int(i) for i in scope]))
    if year is not None:
        stmt = stmt.where(SpendCell.year == int(year))
    return stmt


def cube_query(session: Session, actor, *, level: str = "division", organization: str | None = None, year=None):
    """Organizations × CPV prefix at `level` × year as one SQL GROUP BY over the cells, ordered by prefix,
    organization and year: (prefix, organization, year, cents, lines, distinct known suppliers) rows."""
    level = check_level(level)
    year = check_year(year)
    scope = reader_scope(session, actor, organization)
    prefix = sa.func.substr(SpendCell.cpv_prefix, 1, PREFIX_LENGTH[level])
    stmt = (
        sa.select(
            prefix,
            Organization.code,
            SpendCell.year,
            cell_cents(),
            sa.func.sum(SpendCell.lines),
            sa.func.count(sa.distinct(sa.func.nullif(SpendCell.supplier_key, ""))),
        )
        .join(Organization, Organization.id == SpendCell.organization_id)
        .group_by(prefix, Organization.code, SpendCell.year)
        .order_by(prefix, Organization.code, SpendCell.year)
    )
    return in_scope(stmt, scope, year)


def cube_items(session: Session, rows, lang: str = "fr") -> list[CubeItem]:
    """CubeItems of cube_query rows (a page of them), with the prefixes' labels in one query."""
    rows = list(rows)
    labels = cpv_labels(session, {row[0] for row in rows}, lang)
    return [
        CubeItem(prefix, labels.get(prefix, ""), org, int(yr), euros(cents), int(lines), int(sups))
        for prefix, org, yr, cents, lines, sups in rows
    ]


def spend_cube(
    session: Session, actor, *, level: str = "division", organization: str | None = None, year=None, lang: str = "fr"
) -> list[CubeItem]:
    """Organizations × CPV prefix at `level` × year: amount, lines and distinct suppliers (every row)."""
    stmt = cube_query(session, actor, level=level, organization=organization, year=year)
    return cube_items(session, session.execute(stmt), lang)
