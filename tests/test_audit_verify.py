"""`flask audit verify` recomputes the audit trail's hash chain and names the first bad entry: tampering is done
directly in the database, as someone with write access to it would."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.audit.chain import entry_hash
from app.audit.models import AuditEvent
from app.audit.services import record
from app.clock import utcnow


@pytest.fixture
def chain(db):
    """Five entries, committed; returns their ids by position."""
    for number in range(1, 6):
        record(db.session, None, "call.closed", ("call", number), by="scheduler")
    db.session.commit()
    return dict(db.session.execute(sa.select(AuditEvent.position, AuditEvent.id)).all())


def verify(web_app):
    return web_app.test_cli_runner().invoke(args=["audit", "verify"])


def tamper(db, statement: str, **params) -> None:
    with db.engine.begin() as connection:
        connection.execute(sa.text(statement), params)


def assert_broken_at(result, position: int, entry_id: int, reason: str) -> None:
    assert result.exit_code == 1, result.output
    assert f"position {position} (id {entry_id})" in result.stderr, result.stderr
    assert reason in result.stderr, result.stderr


def test_audit_verify_passes_an_intact_chain(web_app, db, chain):
    result = verify(web_app)
    assert result.exit_code == 0, result.output
    assert "intact: 5 entries" in result.output
    head = db.session.scalar(sa.select(AuditEvent.entry_hash).where(AuditEvent.position == 5))
    assert head in result.output


def test_audit_verify_passes_an_empty_trail(web_app, db):
    result = verify(web_app)
    assert result.exit_code == 0 and "intact: 0 entries" in result.output


def test_audit_verify_names_an_edited_entry(web_app, db, chain):
    tamper(db, "UPDATE audit_event SET details = :details WHERE position = 3", details=json.dumps({"by": "nobody"}))
    assert_broken_at(verify(web_app), 3, chain[3], "edited")


def test_audit_verify_names_an_entry_whose_kind_was_changed(web_app, db, chain):
    tamper(db, "UPDATE audit_event SET kind = 'call.published' WHERE position = 2")
    assert_broken_at(verify(web_app), 2, chain[2], "edited")


def test_audit_verify_names_the_entry_after_a_deleted_one(web_app, db, chain):
    tamper(db, "DELETE FROM audit_event WHERE position = 3")
    assert_broken_at(verify(web_app), 4, chain[4], "missing before it")


def test_audit_verify_names_a_deleted_first_entry(web_app, db, chain):
    tamper(db, "DELETE FROM audit_event WHERE position = 1")
    assert_broken_at(verify(web_app), 2, chain[2], "missing before it")


def _forged(position: int, previous_hash: str) -> AuditEvent:
    forged = AuditEvent(
        id=424242,
        position=position,
        occurred_at=utcnow() - timedelta(days=1),
        actor_id=None,
        organization_id=None,
        kind="login",
        object_type=None,
        object_id=None,
        details={},
        address="203.0.113.9",
        previous_hash=previous_hash,
    )
    forged.entry_hash = entry_hash(forged)  # whoever forges it knows the algorithm
    return forged


def _insert(db, forged: AuditEvent) -> None:
    with db.engine.begin() as connection:
        connection.execute(
            sa.insert(AuditEvent).values(
                **{column.name: getattr(forged, column.key) for column in AuditEvent.__table__.columns}
            )
        )


def test_audit_verify_names_the_entry_after_one_inserted_in_the_middle(web_app, db, chain):
    """A forged entry with a correct hash of its own slipped in at position 4: the entry after it no longer links."""
    tamper(db, "UPDATE audit_event SET position = 6 WHERE position = 5")
    tamper(db, "UPDATE audit_event SET position = 5 WHERE position = 4")
    third = db.session.scalar(sa.select(AuditEvent.entry_hash).where(AuditEvent.id == chain[3]))
    _insert(db, _forged(4, third))
    assert_broken_at(verify(web_app), 5, chain[4], "previous_hash")


def test_audit_verify_names_a_forged_entry_appended_with_a_wrong_hash(web_app, db, chain):
    head = db.session.scalar(sa.select(AuditEvent.entry_hash).where(AuditEvent.id == chain[5]))
    forged = _forged(6, head)
    forged.entry_hash = "f" * 64
    _insert(db, forged)
    assert_broken_at(verify(web_app), 6, 424242, "edited")


def test_audit_verify_names_the_first_of_two_swapped_entries(web_app, db, chain):
    tamper(db, "UPDATE audit_event SET position = -1 WHERE position = 2")
    tamper(db, "UPDATE audit_event SET position = 2 WHERE position = 4")
    tamper(db, "UPDATE audit_event SET position = 4 WHERE position = -1")
    assert_broken_at(verify(web_app), 2, chain[4], "previous_hash")
