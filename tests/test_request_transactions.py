"""How a request's transaction ends when the view did not commit it (app.transactions): a COMMIT on the driver's
connection when it wrote nothing, so that PostgreSQL keeps the statements psycopg prepared, without a commit of the
session; a ROLLBACK as before in every other case."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import effects
from app.organizations.models import Organization
from app.transactions import end_unwritten
from tests import factories
from tests.conftest import login


@contextmanager
def transaction_ends():
    """The commits and rollbacks of every engine's connections while the block runs."""
    ends: list[str] = []

    def commit(_connection):
        ends.append("commit")

    def rollback(_connection):
        ends.append("rollback")

    sa.event.listen(sa.engine.Engine, "commit", commit)
    sa.event.listen(sa.engine.Engine, "rollback", rollback)
    try:
        yield ends
    finally:
        sa.event.remove(sa.engine.Engine, "commit", commit)
        sa.event.remove(sa.engine.Engine, "rollback", rollback)


def _organizations(session) -> set[str]:
    return set(session.scalars(sa.select(Organization.code)))


def _in_database_transaction(session) -> bool:
    """Whether the driver's connection under the session is inside a transaction."""
    dbapi = session.connection().connection.dbapi_connection
    if session.get_bind().dialect.name == "postgresql":
        import psycopg

        return dbapi.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    return dbapi.in_transaction


def test_a_transaction_that_only_read_is_ended_by_a_commit_of_its_connection_not_of_the_session(session):
    factories.organization("KEPT")
    session.commit()
    committed: list[int] = []

    def count(_session):
        committed.append(1)

    sa.event.listen(Session, "after_commit", count)
    try:
        assert _organizations(session) == {"KEPT"}
        if session.get_bind().dialect.name == "postgresql":  # SQLite's driver begins a transaction at a write only
            assert _in_database_transaction(session)
        with transaction_ends() as ends:
            assert end_unwritten(session) is True
        assert not _in_database_transaction(session)
        assert ends == [] and committed == []  # neither the session nor SQLAlchemy's connection committed
    finally:
        sa.event.remove(Session, "after_commit", count)
    session.close()
    assert _organizations(session) == {"KEPT"}


def test_a_transaction_that_wrote_is_left_to_roll_back(session):
    factories.organization("FLUSHED")  # flushed: written, not committed
    assert end_unwritten(session) is False
    session.close()
    assert "FLUSHED" not in _organizations(session)

    session.execute(sa.insert(Organization).values(id=7, code="CORE", name="Core", kind="other", postcode="21000"))
    assert end_unwritten(session) is False
    session.close()
    assert "CORE" not in _organizations(session)


def test_changes_not_flushed_and_waiting_effects_are_left_to_roll_back(session):
    session.add(Organization(code="PENDING", name="Pending", kind="other", postcode="21000"))
    assert end_unwritten(session) is False
    session.close()
    assert "PENDING" not in _organizations(session)

    done: list[str] = []
    assert _organizations(session) == set()  # a transaction that only read, with an effect queued
    effects.after_commit(session, lambda: done.append("mail"))
    assert end_unwritten(session) is False
    session.close()
    assert done == []  # never run: nothing was committed


def test_without_a_transaction_nothing_is_done(session):
    session.close()
    with transaction_ends() as ends:
        assert end_unwritten(session) is False
    assert ends == []


def test_postgresql_keeps_the_statements_prepared_from_one_request_to_the_next(client, session, web_app):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("prepared statements are psycopg's, on PostgreSQL")
    from app.extensions import db

    factories.user("coordinator", email="coordinator@example.fr")
    session.commit()
    with web_app.app_context():
        db.engine.dispose()  # the connections earlier tests left: the requests below open one and share it
    assert login(client, "coordinator@example.fr").status_code == 302
    for _ in range(8):  # psycopg prepares a statement the fifth time its connection runs it
        assert client.get("/needs").status_code == 200
    with web_app.app_context():
        pool = db.engine.pool
        assert pool.checkedin() == 1  # the requests ran one at a time, on one connection
        with db.engine.connect() as connection:
            prepared = connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()
    assert prepared > 0
