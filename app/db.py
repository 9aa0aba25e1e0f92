"""Declarative base with a constraint naming convention, shared column types, SQLite pragmas."""

from __future__ import annotations

import secrets
import unicodedata
from datetime import UTC
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, MappedColumn, mapped_column
from sqlalchemy.sql.functions import FunctionElement

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# The largest integer a JavaScript client reads exactly (Number.MAX_SAFE_INTEGER).
MAX_ID = 2**53 - 1


def random_id() -> int:
    """A new row's id: drawn at random in [1, 2**53 - 1], never from a sequence shared by all users, whose gaps
    would count other users' activity (the bids placed between two of a supplier's own notifications)."""
    return secrets.randbelow(MAX_ID) + 1


def random_ids(count: int) -> list[int]:
    """`count` new ids at once, drawn as `random_id` draws one (from the operating system's secure source, in
    [1, 2**53 - 1]; the modulo's bias is below 2**-42), for bulk writes of many rows."""
    import numpy as np

    drawn = np.frombuffer(secrets.token_bytes(8 * count), dtype="<u8")
    return (drawn % np.uint64(MAX_ID) + np.uint64(1)).tolist()


# Ids and references to them: BIGINT on PostgreSQL; SQLite's INTEGER already holds 64 bits, and an INTEGER PRIMARY
# KEY takes the value given instead of the next rowid.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def id_column(type_: sa.types.TypeEngine = Id) -> MappedColumn[int]:
    """The primary key of every table: a random id given by the application, no sequence in the database."""
    return mapped_column(type_, primary_key=True, autoincrement=False, default=random_id)


def id_among(session, column, ids) -> sa.ColumnElement[bool]:
    """`column IN ids` for a long list of ids (the needs of a page of overlaps: thousands): on PostgreSQL one array
    (`= ANY(...)`) sent as one text parameter, its literal '{1,2,3}' cast by the server, instead of one placeholder
    per id that SQLAlchemy expands and the driver parses (the driver's own array parameter also looks at every id,
    a few microseconds each); elsewhere the usual expanding IN."""
    ids = sorted(set(ids))
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        literal = "{" + ",".join(str(int(i)) for i in ids) + "}"
        return column == sa.any_(sa.cast(sa.bindparam(None, literal, type_=sa.Text()), ARRAY(sa.BigInteger())))
    return column.in_(ids)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC instants on every database (SQLite drops the offset, so it is restored)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: instants must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Money = sa.Numeric(14, 2, asdecimal=True)
CENT = Decimal("0.01")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at each checkpoint, safe from corruption
    cursor.execute("PRAGMA cache_size=-32768")  # 32 MiB of pages: imports write into indexes larger than 2 MiB
    cursor.close()
    dbapi_connection.create_collation(SQLITE_COLLATION, _compare_as_read)


# --- sorting text as a French reader expects: accents and case second ("Bâtiment" before "Bureau") ------------------
SQLITE_COLLATION = "mutualis_text"
POSTGRESQL_COLLATION = "und-x-icu"  # ICU's root collation, shipped with every PostgreSQL built with ICU


def reading_key(text: str) -> tuple[str, str]:
    """The key that sorts words as read: letters without their accents and case first, the exact text to break ties."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return bare.casefold(), text


def _compare_as_read(left: str, right: str) -> int:
    a, b = reading_key(left), reading_key(right)
    return (a > b) - (a < b)


class reading_order(FunctionElement):  # noqa: N801 - used like a SQL function
    """A text column ordered as read ("Bâtiment", "bureau", "Bureau", "Cantine"), on SQLite and PostgreSQL."""

    inherit_cache = True
    name = "reading_order"
    type = sa.String()


@compiles(reading_order)
def _reading_order_plain(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(reading_order, "sqlite")
def _reading_order_sqlite(element, compiler, **kw):
    return f"{compiler.process(element.clauses, **kw)} COLLATE {SQLITE_COLLATION}"


@compiles(reading_order, "postgresql")
def _reading_order_postgresql(element, compiler, **kw):
    return f'{compiler.process(element.clauses, **kw)} COLLATE "{POSTGRESQL_COLLATION}"'


# Tables created by the migrations but owned by a library (APScheduler's job store), not by models.
UNMANAGED_TABLES = frozenset({"apscheduler_jobs"})


def include_object(obj, name, type_, reflected, compare_to):
    """Alembic filter: leave library-owned tables out of autogenerate comparisons."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", name) not in UNMANAGED_TABLES
