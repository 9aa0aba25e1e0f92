"""The spend cube as SQL GROUP BY over the cells (pre-aggregated at import, amounts in cents): organizations × CPV
prefix × year, with amount, lines and distinct suppliers; and the helpers the other aggregates share.

The aggregates are summed per organization (`organization_sums`), each organization's sums remembered until its own
cells change (app.freshness): after an import, the next request sums that organization's cells again, not every
organization's, and adds the sums together."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import pandas as pd
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from app import freshness
from app.domain.cpv import OVERLAP_LEVELS, PREFIX_LENGTH
from app.errors import ValidationFailed
from app.organizations.models import Organization
from app.reference.models import CpvCode
from app.spend.models import SpendCell
from app.spend.services.access import reader_scope

LEVELS = OVERLAP_LEVELS  # division, group, class, category
CELL_PREFIX = PREFIX_LENGTH["category"]
IN_BATCH = 500  # values per SQL IN (...) list


def organization_codes(session: Session) -> Mapping[int, str]:
    """Every organization's code by its id (read-only), remembered until an organization changes: each aggregate
    summed per organization names them, and reading them once per aggregate cost a statement each."""
    return freshness.remembered(
        session,
        ("organizations",),
        ("organization_codes",),
        lambda: MappingProxyType(dict(session.execute(sa.select(Organization.id, Organization.code)).all())),
    )


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


def organization_sums(
    session: Session,
    scope: list[int] | None,
    year: int | None,
    key: Hashable,
    columns: dict[str, sa.ColumnElement],
    sums: dict[str, sa.ColumnElement],
) -> pd.DataFrame:
    """The cells of the organizations in scope (None: every one) in `year` (None: all) summed per organization and
    `columns` (name -> expression over the cells): a frame of the organization's code, the columns and the `sums`
    (name -> aggregate). Each organization's sums are remembered under its own spend topic and `key` (what the
    columns and sums are; the year is added): after a change of one organization's cells only its sums are read
    again, the others' come from memory, in one GROUP BY over the organizations missing."""
    names = [*columns, *sums]
    codes = organization_codes(session)
    if scope is not None:
        codes = {org: codes[org] for org in scope if org in codes}

    def read(missing: list[int]) -> dict[int, pd.DataFrame]:
        stmt = sa.select(SpendCell.organization_id, *columns.values(), *sums.values()).group_by(
            SpendCell.organization_id, *columns.values()
        )
        # every organization missing (the first request of a reader of all): no filter, the whole table is read anyway
        stmt = in_scope(stmt, None if scope is None and len(missing) == len(codes) else missing, year)
        frame = read_frame(session, stmt, ["organization_id", *names])
        for name in sums:
            frame[name] = frame[name].astype("int64")
        parts = {int(org): part.drop(columns="organization_id") for org, part in frame.groupby("organization_id")}
        empty = frame.drop(columns="organization_id").iloc[:0]
        return {org: parts.get(org, empty).reset_index(drop=True) for org in missing}

    parts = freshness.remembered_parts(
        session, {org: (freshness.spend_topic(org),) for org in codes}, ("organization_sums", key, year), read
    )
    kept = [(codes[org], part) for org, part in parts.items() if len(part)]
    if not kept:
        return pd.DataFrame(
            {name: pd.Series(dtype="int64" if name in sums else object) for name in ["organization", *names]}
        )
    frame = pd.concat([part for _code, part in kept], ignore_index=True)
    organizations = np.repeat(np.array([code for code, _part in kept], dtype=object), [len(p) for _c, p in kept])
    frame.insert(0, "organization", organizations)
    return frame


def cube_rows(
    session: Session, actor, *, level: str = "division", organization: str | None = None, year=None
) -> list[tuple]:
    """Organizations × CPV prefix at `level` × year, from each organization's sums (one SQL GROUP BY over the cells
    of those not remembered), ordered by prefix, organization and year: (prefix, organization, year, cents, lines,
    distinct known suppliers) rows."""
    level = check_level(level)
    year = check_year(year)
    frame = organization_sums(
        session,
        reader_scope(session, actor, organization),
        year,
        ("cube", level),
        {"prefix": sa.func.substr(SpendCell.cpv_prefix, 1, PREFIX_LENGTH[level]), "year": SpendCell.year},
        {
            "cents": cell_cents(),
            "lines": sa.func.sum(SpendCell.lines),
            "suppliers": sa.func.count(sa.distinct(sa.func.nullif(SpendCell.supplier_key, ""))),
        },
    )
    frame = frame.sort_values(["prefix", "organization", "year"], kind="stable")
    return frame_rows(frame, ["prefix", "organization", "year", "cents", "lines", "suppliers"])


def read_frame(session: Session, stmt: sa.Select, columns: list[str]) -> pd.DataFrame:
    """The rows of `stmt` as a frame of `columns`, built a column at a time (a frame built from many row objects
    converts them value by value: ten times slower)."""
    rows = session.connection().execute(stmt).all()  # Core rows: no ORM loading step for plain columns
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pd.DataFrame({column: list(value) for column, value in zip(columns, values, strict=True)})


def frame_rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """The frame's rows as tuples of Python values (each column converted at once, not value by value)."""
    return list(zip(*(frame[column].tolist() for column in columns), strict=True))


def cube_items(session: Session, rows, lang: str = "fr") -> list[CubeItem]:
    """CubeItems of cube_rows rows (a page of them), with the prefixes' labels in one query."""
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
    return cube_items(session, cube_rows(session, actor, level=level, organization=organization, year=year), lang)
