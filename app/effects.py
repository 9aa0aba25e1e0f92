"""Side effects that belong to a database transaction: queued on the SQLAlchemy session, run once it commits,
dropped when it rolls back.

- `after_commit(session, effect)`: `effect()` runs after the session's outermost transaction commits (a mail, for
  instance); it is dropped if the transaction rolls back or ends without a commit.
- `on_rollback(session, undo)`: `undo()` runs if the transaction rolls back (or ends) without a commit, to remove
  what was done outside the database for rows that are not kept (a file written for a document); it is dropped
  once the transaction commits.

A savepoint rolled back drops (or undoes) only what was queued inside it. Effects run when the transaction is over:
they must not use the session. A failing effect is logged and never undoes the commit, nor stops the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

log = logging.getLogger("mutualis.effects")

_KEY = "mutualis.effects"


@dataclass
class _Pending:
    effects: list[tuple[str, Callable[[], object]]] = field(default_factory=list)
    undos: list[tuple[str, Callable[[], object]]] = field(default_factory=list)
    # where each open savepoint began: (number of effects, number of undos) queued before it
    marks: dict[SessionTransaction, tuple[int, int]] = field(default_factory=dict)


def _pending(session: Session | scoped_session) -> _Pending:
    if isinstance(session, scoped_session):  # db.session: this request's (or thread's) session
        session = session()
    if not session.in_transaction():  # bind what is queued to a transaction, so that its end is seen
        session.begin()
    return session.info.setdefault(_KEY, _Pending())


def pending(session: Session) -> bool:
    """Whether effects or undos wait for the session's transaction to end."""
    queued = session.info.get(_KEY)
    return queued is not None and bool(queued.effects or queued.undos)


def after_commit(session, effect: Callable[[], object], description: str = "") -> None:
    """Run `effect()` once the session's transaction has committed; never if it rolls back."""
    _pending(session).effects.append((description or getattr(effect, "__name__", "effect"), effect))


def on_rollback(session, undo: Callable[[], object], description: str = "") -> None:
    """Run `undo()` if the session's transaction rolls back instead of committing."""
    _pending(session).undos.append((description or getattr(undo, "__name__", "undo"), undo))


def _run(kind: str, items) -> None:
    for description, action in items:
        try:
            action()
        except Exception:  # a failing effect is reported, and changes nothing that was committed
            log.exception("%s failed: %s", kind, description)


def _is_root(transaction: SessionTransaction) -> bool:
    return transaction.parent is None and not transaction.nested


@event.listens_for(Session, "after_transaction_create")
def _savepoint_begins(session: Session, transaction: SessionTransaction) -> None:
    pending = session.info.get(_KEY)
    if transaction.nested and pending is not None:
        pending.marks[transaction] = (len(pending.effects), len(pending.undos))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: its effects wait for the outermost commit
        return
    pending = session.info.pop(_KEY, None)
    if pending is not None:
        _run("effect after commit", pending.effects)


@event.listens_for(Session, "after_soft_rollback")
def _savepoint_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_KEY)
    if pending is None or not previous_transaction.nested:
        return
    effects_at, undos_at = pending.marks.pop(previous_transaction, (0, 0))
    undos = pending.undos[undos_at:]
    del pending.effects[effects_at:], pending.undos[undos_at:]
    _run("undo on rollback", reversed(undos))


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended: after its commit nothing is left; after a rollback (or a close without a
    commit) its effects are dropped and its undos run. A savepoint's mark stays until then: a savepoint's rollback
    reads it after this event (SessionTransaction.rollback closes the savepoint first)."""
    pending = session.info.get(_KEY)
    if pending is not None and _is_root(transaction):
        del session.info[_KEY]
        _run("undo on rollback", reversed(pending.undos))
