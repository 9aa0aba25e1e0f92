"""Answers computed from the needs, the spend or the groups, remembered until the data they are computed from changes.

The database keeps one token per topic in `data_version`; triggers (migrations e5a1c7f9b2d4, a9d3e5f7c210) give a
topic a new random token in the same transaction as every INSERT, UPDATE or DELETE on a table the topic reads (on
PostgreSQL as that transaction commits, so that a long import does not hold the token row's lock and keep the other
writers of the topic waiting until it ends):

- `needs`: need, organization (its code and central-government flag are part of the overlaps);
- `spend`: spend_cell, organization, supplier_company (the cube cells, the names shown beside them),
  emission_mapping (the CPV division → emission category mapping the impact figures read);
- `groups`: purchase_group, membership, group_need (the needs a group counts and their amounts: its impact figures;
  migration 0b4e6c2d9a71);
- `organizations`: organization (codes and central-government flags), and one topic per CPV division of the needs,
  `needs_<2 digits>`: need, the division of its code before and after the write (migration d4a7c9e2b815). The
  overlaps are remembered per division under these (`remembered_parts`): a changed need leaves the other divisions'
  answers as they are;
- one topic per organization of the spend cells, `sp` + its id in hexadecimal: spend_cell, the organization of the
  cell before and after the write (migration e7b3a5c1d902). The spend aggregates are remembered per organization
  under these (`remembered_parts`): an import leaves the other organizations' sums as they are.

An answer is remembered under the tokens read before the data it is computed from, in this process, so:
- a write (a new or changed need, an import, its rollback, an organization renamed) gives a new token, and the
  next request computes again: never a stale answer, whichever process or path (ORM, Core, SQL) wrote;
- a transaction rolled back leaves the old token, and the token it had set (random) is never seen again;
- an answer remembered under a token is at least as recent as the data that token stands for (the token is read
  first), so a reader never gets an answer older than what it would have read itself.

With no token for a topic (a database emptied by hand), nothing is remembered: the answer is computed each time.

SQLite fires triggers per row: a bulk insert (an import's spend cells) sets the data-version triggers of its table
aside within its transaction and lets its last row fire them (`insert_triggers_set_aside`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from cachetools import LRUCache
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.extensions import db

TOPICS = {
    "needs": ("need", "organization"),
    "spend": ("spend_cell", "organization", "supplier_company", "emission_mapping"),
    "groups": ("purchase_group", "membership", "group_need"),
    "organizations": ("organization",),
}
TOPICS_ALL = tuple(TOPICS)
DIVISION_TOPIC = "needs_"  # + the 2 digits of a CPV division: the needs of that division (table need)
SPEND_TOPIC = "sp"  # + an organization id in hexadecimal: that organization's spend cells (table spend_cell)
# What each process keeps, in bytes as size_of estimates them, the least recently used dropped first: answers (a map
# page, an overlap query, ...) and parts of answers (a division's overlaps, an organization's spend sums, ...).
ANSWERS_BYTES = 256 * 2**20
PARTS_BYTES = 512 * 2**20
SAMPLED = 32  # the items of a longer list, tuple, set or dict that size_of measures, the others estimated from them


def size_of(value) -> int:
    """An estimate of the memory an answer holds, in bytes: a pandas frame's or series' own count (its strings
    included), an array's bytes, else the object with what it holds (containers and dataclasses, looked into; other
    objects counted alone). In a container of more than SAMPLED items, SAMPLED of them spread over it are measured
    and the others counted at their mean, so that the estimate costs little beside computing the answer."""
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=True, deep=True).sum())
    if isinstance(value, pd.Series | pd.Index):
        return int(value.memory_usage(deep=True))
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, Mapping):
        return sys.getsizeof(value) + _sampled(list(value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return sys.getsizeof(value) + _sampled(list(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sys.getsizeof(value) + _sampled([getattr(value, f.name) for f in dataclasses.fields(value)])
    return sys.getsizeof(value)


def _sampled(items: list) -> int:
    if len(items) <= SAMPLED:
        return sum(size_of(item) for item in items)
    step = len(items) / SAMPLED
    measured = [size_of(items[int(i * step)]) for i in range(SAMPLED)]
    return sum(measured) * len(items) // SAMPLED


T = TypeVar("T")
_answers: LRUCache = LRUCache(maxsize=ANSWERS_BYTES, getsizeof=size_of)
_parts: LRUCache = LRUCache(maxsize=PARTS_BYTES, getsizeof=size_of)


def _keep(cache: LRUCache, key: Hashable, answer) -> None:
    """Remember an answer, the least recently used ones dropped to make room; one larger than the whole cache is not
    kept (it is computed each time)."""
    with contextlib.suppress(ValueError):  # cachetools: value too large
        cache[key] = answer


_lock = threading.Lock()
_MISSING = object()
_TOKENS = "freshness_tokens"  # connection.info key of the tokens read in the current transaction
_WROTE = "freshness_wrote"  # connection.info key: the current transaction sent a statement other than a SELECT


class DataVersion(db.Model):
    """The current token of a topic; written by database triggers only."""

    __tablename__ = "data_version"

    topic: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(36))


def tokens(session: Session, topics: tuple[str, ...]) -> tuple[str, ...] | None:
    """The topics' current tokens, or None when one of them has none. Every topic's token is read in one query once
    per transaction and kept on its connection until the transaction writes anything (see _forget_tokens)."""
    connection = session.connection()
    found = connection.info.get(_TOKENS)
    if found is None:
        found = {topic: token for topic, token in connection.execute(sa.select(DataVersion.topic, DataVersion.token))}
        connection.info[_TOKENS] = found
    if any(topic not in found for topic in topics):
        return None
    return tuple(found[topic] for topic in topics)


def wrote(connection) -> bool:
    """Whether the connection's current transaction sent a statement other than a SELECT."""
    return bool(connection.info.get(_WROTE))


def _forget_tokens(connection, *_args, **_kwargs) -> None:
    connection.info.pop(_TOKENS, None)
    connection.info.pop(_WROTE, None)


@sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
def _after_statement(connection, _cursor, statement, _parameters, _context, _executemany) -> None:
    """A statement other than a SELECT may have written: the transaction no longer reads or keeps remembered answers
    (see `remembered`), and reads the tokens again."""
    if not _reads_only(statement):
        connection.info.pop(_TOKENS, None)
        connection.info[_WROTE] = True


_WRITING_WORD = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE)\b", re.IGNORECASE)


def _reads_only(statement: str) -> bool:
    """A SELECT, or a WITH query (common table expressions, recursive or not) in which no word writes: a WITH may
    hold an INSERT, UPDATE or DELETE on PostgreSQL, so one that names any of them counts as a write (at worst an
    answer is computed once more)."""
    head = statement.lstrip()[:6].upper()
    if head == "SELECT":
        return True
    return head.startswith("WITH") and _WRITING_WORD.search(statement) is None


for _event in ("commit", "rollback", "begin"):
    sa.event.listen(sa.engine.Engine, _event, _forget_tokens)


@contextlib.contextmanager
def insert_triggers_set_aside(connection: sa.Connection, table: str) -> Iterator[None]:
    """For a bulk insert on SQLite, which fires triggers per row and never per statement (30,000 spend cells ran
    60,000 token updates, four times the insert itself): the data-version triggers of the table's inserts are dropped
    for the rows written inside this block and created again, as they were, when it ends. The caller then writes one
    more row, which fires them: its transaction changes the tokens as any write does. Done only inside a transaction,
    which on SQLite holds the database's only write lock (no other writer can insert meanwhile), so no committed
    state lacks a trigger and a rollback brings them back too; outside one (DDL would be committed at once), and on
    PostgreSQL (triggers per statement), nothing is set aside."""
    if connection.dialect.name != "sqlite" or not connection.connection.dbapi_connection.in_transaction:
        yield
        return
    triggers = connection.execute(_INSERT_TRIGGERS, {"table": table}).all()
    for name, _sql in triggers:
        connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
    try:
        yield
    finally:
        for _name, sql in triggers:
            connection.exec_driver_sql(sql)


# The data-version triggers of a table's inserts, as the migrations name them (data_version_<topic>_insert): each
# gives a topic a new random token, the same whichever row fires it.
_INSERT_TRIGGERS = sa.text(
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table "
    "AND name GLOB 'data_version_*_insert' ORDER BY name"
)


def _database(session: Session) -> str:
    """The database the session reads (its URL without the password): answers are remembered per database."""
    return session.get_bind().url.render_as_string(hide_password=True)


def _full_key(session: Session, database: str, topics: tuple[str, ...], key: Hashable, *part) -> tuple | None:
    """What an answer (or a part of one) is remembered under: the database, the topics with their current tokens,
    the caller's key; None when a topic has no token (nothing is remembered)."""
    current = tokens(session, topics)
    return None if current is None else (database, topics, current, key, *part)


def remembered(session: Session, topics: tuple[str, ...], key: Hashable, compute: Callable[[], T]) -> T:
    """compute(), or the answer it gave under the topics' current tokens for the same key. The answer is shared:
    callers must not change it (return tuples, frozen dataclasses).

    A transaction that has written computes its answers and keeps none: on PostgreSQL the tokens change as it
    commits (deferred triggers), so until then it still reads the tokens of the data as it was before its writes."""
    if wrote(session.connection()):
        return compute()
    full_key = _full_key(session, _database(session), topics, key)
    if full_key is None:
        return compute()
    with _lock:
        answer = _answers.get(full_key, _MISSING)
    if answer is not _MISSING:
        return answer
    answer = compute()
    with _lock:
        _keep(_answers, full_key, answer)
    return answer


def division_topic(division: str) -> str:
    """The topic of the needs of a CPV division (its 2 digits)."""
    return f"{DIVISION_TOPIC}{division}"


def spend_topic(organization_id: int) -> str:
    """The topic of the spend cells of an organization (16 characters at most: ids are below 2**53)."""
    return f"{SPEND_TOPIC}{int(organization_id):x}"


P = TypeVar("P", bound=Hashable)


def remembered_parts(
    session: Session,
    parts: dict[P, tuple[str, ...]],
    key: Hashable,
    compute: Callable[[list[P]], dict[P, T]],
) -> dict[P, T]:
    """part -> answer, for an answer made of independent parts each computed from the data of its own topics (the
    overlaps of one CPV division from its needs): each part is remembered under its topics' tokens, and the parts
    not remembered are computed together, in one call of compute(parts) -> {part: answer} that answers every part
    it is given. A change of one division's needs computes that division's part again, not the others'.

    As in `remembered`: a transaction that has written computes every part and keeps none; a part whose topics
    have no token is computed each time; the answers are shared (callers must not change them)."""
    if wrote(session.connection()):
        return compute(list(parts))
    database = _database(session)
    found: dict[P, T] = {}
    keys: dict[P, tuple] = {}
    missing: list[P] = []
    for part, topics in parts.items():
        part_key = _full_key(session, database, topics, key, part)
        if part_key is not None:
            keys[part] = part_key
            with _lock:
                answer = _parts.get(part_key, _MISSING)
            if answer is not _MISSING:
                found[part] = answer
                continue
        missing.append(part)
    if missing:
        computed = compute(missing)
        with _lock:
            for part in missing:
                found[part] = computed[part]
                if part in keys:
                    _keep(_parts, keys[part], computed[part])
    return found


def forget_all() -> None:
    """Drop every remembered answer and part (tests measuring a cold request)."""
    with _lock:
        _answers.clear()
        _parts.clear()
