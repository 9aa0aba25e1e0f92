"""How a request's transaction ends when its view did not commit it (every page that only reads).

Such a transaction has nothing to keep, and ending it with COMMIT or with ROLLBACK is the same for the data. It is
not the same for the connection: psycopg deallocates every statement it prepared on a connection when that
connection rolls back (a rolled-back transaction may have dropped what they refer to), so on PostgreSQL each
request would plan all its statements again, about a millisecond each, often more than running them.

So the database transaction of a request that wrote nothing is ended with COMMIT on the driver's connection, before
Flask-SQLAlchemy closes the session. The session itself commits nothing (no commit event, no side effect run: a read
still "commits nothing", as the request flow wants); its close then finds the connection out of any transaction, and
the driver's rollback sends nothing. A transaction that wrote anything, holds changes not flushed yet or has side
effects waiting (app.effects) is rolled back by the close, as before.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.orm import scoped_session

from app import effects, freshness

log = logging.getLogger("mutualis.transactions")


def end_unwritten(session) -> bool:
    """End the session's database transaction with COMMIT if it wrote nothing and has nothing pending; True if it
    did. Anything else is left to the session's close (a rollback)."""
    if isinstance(session, scoped_session):  # db.session: this request's session
        session = session()
    if not session.in_transaction() or session.in_nested_transaction():
        return False
    if session.new or session.dirty or session.deleted or effects.pending(session):
        return False
    try:
        connection = session.connection()
        if freshness.wrote(connection):
            return False
        connection.connection.dbapi_connection.commit()
    except Exception:  # a connection lost, or a transaction the database had failed: the close rolls it back
        log.info("a request's transaction that wrote nothing could not commit; it is rolled back", exc_info=True)
        return False
    return True


def register(app: Flask) -> None:
    """After the view, before Flask-SQLAlchemy closes the session (teardowns run in the reverse order of their
    registration: call this after `db.init_app`)."""
    from app.extensions import db

    @app.teardown_appcontext
    def _end_unwritten(error: BaseException | None) -> None:
        if error is None and db.session.registry.has():
            end_unwritten(db.session)
