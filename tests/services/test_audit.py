"""The audit trail: every security-relevant action appends one hash-chained entry, in the action's transaction."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app import actions
from app.accounts import services as account_services
from app.accounts.models import User
from app.audit.chain import GENESIS_HASH, entry_hash, verify
from app.audit.models import AuditEvent
from app.audit.services import chain_in_order, record
from app.calls import services as call_services
from app.errors import ValidationFailed
from tests import factories
from tests.factories import CALLS_DEADLINE


def events(session, kind=None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).order_by(AuditEvent.position)
    if kind:
        stmt = stmt.where(AuditEvent.kind == kind)
    return list(session.scalars(stmt))


def kinds(session) -> list[str]:
    return [event.kind for event in events(session)]


def test_audit_entries_chain_each_to_the_one_before(session):
    admin = factories.user("admin")
    for number in range(3):
        record(session, admin, "token.issued", ("api_token", number + 1), note=number)
    session.commit()
    chain = events(session)
    assert [e.position for e in chain] == [1, 2, 3]
    assert chain[0].previous_hash == GENESIS_HASH
    assert [e.previous_hash for e in chain[1:]] == [e.entry_hash for e in chain[:-1]]
    assert all(entry_hash(e) == e.entry_hash and len(e.entry_hash) == 64 for e in chain)
    assert chain[0].actor_id == admin.id and chain[0].object_type == "api_token" and chain[0].details == {"note": 0}
    assert verify(chain_in_order(session)).intact


def test_an_action_rolled_back_leaves_no_audit_entry(session):
    admin = factories.user("admin")
    session.commit()

    def refused():
        record(session, admin, "user.deactivated", admin)
        raise ValidationFailed({"x": ["no"]})

    with pytest.raises(ValidationFailed):
        actions.run(refused)
    assert events(session) == []


def test_an_amount_is_refused_as_an_audit_detail(session):
    with pytest.raises(TypeError, match="amounts are never recorded"):
        record(session, None, "bid.submitted", None, amount=Decimal("12.00"))


def test_concurrent_appends_never_fork_the_chain(app, db):
    """Eight requests appending at once: one chain, positions 1..n, intact (the lock serialises appends)."""
    errors: list[BaseException] = []

    def append(n: int) -> None:
        try:
            with app.app_context():
                for i in range(4):
                    actions.run(lambda i=i: record(db.session, None, "call.closed", ("call", n * 10 + i)), attempts=5)
                db.session.remove()
        except BaseException as error:  # reported by the test below
            errors.append(error)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    chain = events(db.session)
    assert [e.position for e in chain] == list(range(1, 33))
    assert verify(chain).intact


def test_account_events_are_recorded_and_a_failed_login_creates_no_user(session):
    admin = factories.user("admin")
    buyer = factories.user("buyer")
    session.commit()
    users_before = session.scalar(sa.select(sa.func.count(User.id)))

    for email in ("nobody@example.fr", buyer.email):
        with pytest.raises(Exception, match="incorrect"):
            actions.run(lambda email=email: account_services.authenticate(session, email, "wrong password!"))
    actions.run(lambda: account_services.authenticate(session, buyer.email, factories.PASSWORD))
    token, token_record = actions.run(lambda: account_services.issue_api_token(session, buyer))
    actions.run(lambda: account_services.revoke_api_token(session, token_record))
    actions.run(
        lambda: account_services.change_password(session, buyer, factories.PASSWORD, "a much longer passphrase")
    )
    actions.run(lambda: account_services.log_out(session, buyer))
    actions.run(lambda: account_services.set_user_active(session, admin, buyer.id, False))
    actions.run(lambda: account_services.set_user_active(session, admin, buyer.id, True))

    assert kinds(session) == [
        "login.failed",
        "login.failed",
        "login",
        "token.issued",
        "token.revoked",
        "password.changed",
        "logout",
        "user.deactivated",
        "user.reactivated",
    ]
    unknown, known = events(session, "login.failed")
    assert unknown.details == {"email": "nobody@example.fr"} and unknown.object_id is None and unknown.actor_id is None
    assert known.object_type == "user_account" and known.object_id == buyer.id
    assert session.scalar(sa.select(sa.func.count(User.id))) == users_before
    deactivated = events(session, "user.deactivated")[0]
    assert deactivated.actor_id == admin.id and deactivated.object_id == buyer.id
    assert "a much longer passphrase" not in json.dumps([e.details for e in events(session)])
    assert verify(chain_in_order(session)).intact


def _published_call():
    """(coordinator, call, supplier): a published call of a constituted group, and a supplier to bid on it."""
    group, _, coordinator = factories.constituted_group()
    return coordinator, factories.call(coordinator, group, publish=True), factories.user("supplier")


def test_call_lifecycle_events_are_recorded_without_bid_amounts(session, clock):
    coordinator, call, supplier = _published_call()
    first = factories.bid(supplier, call, "123456.78")
    second = factories.bid(supplier, call, "120000.01")
    session.commit()
    actions.run(lambda: call_services.withdraw_bid(session, supplier, second.id))
    clock.move_to(CALLS_DEADLINE + timedelta(minutes=1))
    assert actions.run(lambda: call_services.close_due_calls(session)) == [call.id]

    recorded = kinds(session)
    assert recorded.count("convention.signed") == 3
    assert [k for k in recorded if k.startswith(("call.", "bid."))] == [
        "call.created",
        "call.published",
        "bid.submitted",
        "bid.replaced",
        "bid.withdrawn",
        "call.closed",
    ]
    submitted = events(session, "bid.submitted")[0]
    assert submitted.object_id == first.id and submitted.details["receipt"] == first.receipt_sha256
    assert submitted.details["lot"] == 1 and submitted.actor_id == supplier.id
    closed = events(session, "call.closed")[0]
    assert closed.actor_id is None and closed.details["by"] == "scheduler"
    text = json.dumps([e.details for e in events(session)])
    for amount in ("123456.78", "123456,78", "120000.01", "120000,01", "123 456"):
        assert amount not in text
    assert verify(chain_in_order(session)).intact


def test_scores_and_award_are_recorded(session, clock):
    coordinator, call, supplier = _published_call()
    bid = factories.bid(supplier, call, "500000.00")
    session.commit()
    clock.move_to(CALLS_DEADLINE + timedelta(minutes=1))
    actions.run(
        lambda: call_services.score_bid(session, coordinator, call, bid.id, {"technical": 80, "environmental": 70})
    )
    actions.run(lambda: call_services.award_lot(session, coordinator, call, call.lots[0].id, bid.id))
    scored = events(session, "bid.scored")[0]
    assert scored.details["criteria"] == ["environmental", "technical"] and scored.object_id == bid.id
    awarded = events(session, "lot.awarded")[0]
    assert awarded.details["bid_id"] == bid.id and awarded.actor_id == coordinator.id
    assert verify(chain_in_order(session)).intact


def test_imports_and_their_rollback_are_recorded(session):
    from app.needs import services as need_services
    from app.spend import services as spend_services

    admin = factories.user("admin")
    buyer = factories.user("buyer")
    session.commit()
    needs_file = (
        "intitulé;code CPV;montant annuel HT;date de début;durée (mois)\nÉlectricité;09310000;1 234,50;01/03/2027;36\n"
    ).encode()
    actions.run(lambda: need_services.import_needs(session, buyer, needs_file, "besoins.csv"))
    ledger = factories.ledger("15/01/2025;ACME;;09310000;1 234,50;Électricité;21000")
    spend = actions.run(lambda: spend_services.import_spend(session, buyer, ledger, "grand-livre.csv"))
    actions.run(lambda: spend_services.rollback_import(session, admin, spend.id))
    assert kinds(session) == ["needs.imported", "spend.imported", "spend.rolled_back"]
    imported = events(session, "needs.imported")[0]
    assert imported.details["needs"] == 1 and imported.actor_id == buyer.id
    assert imported.organization_id == buyer.organization_id
    assert events(session, "spend.rolled_back")[0].actor_id == admin.id
