"""The call lifecycle as a hypothesis state machine, through the API and pages the users have, on the frozen clock.

Steps: suppliers submit, replace and withdraw bids (with and without an Idempotency-Key, retried with the same or
another body), ask questions; time advances (also to the deadline instant exactly, and to one second before); the
deadline is moved (the product has no operation for it yet: the step writes the new deadline in the database, as the
demo does, and every rule must follow it); the scheduler's close job runs; the coordinator scores and awards.

Properties, checked at every step:
* sealed bids — a bid step (submitted, replaced, withdrawn, or refused) changes nothing any other role sees: the
  coordinator's, a member buyer's, the admin's, another supplier's and an anonymous visitor's answers (call, bids,
  ranking, OCDS package, call list, pages, notifications, home page counts) are the same byte for byte before and
  after it, and a new bid's id answers them exactly as an id that does not exist;
* at most one active bid per supplier and lot, and the active bids are the ones the model expects;
* no bid accepted at or after the deadline: the answer at or after it is 409 call_closed (exactly at the deadline
  instant too), and every bid stored was submitted before the deadline.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.accounts.models import User
from app.calls import services as call_services
from app.calls.models import Bid, Call
from app.clock import utcnow
from tests import factories
from tests.conftest import _empty_tables, api_token, login

SUPPLIERS = 3
AMOUNTS = ("1000.00", "2500.50", "99999.99")
KEYS = ("cle-1", "cle-2")
UNKNOWN_BID = 4_503_599_627_370_495  # a 53-bit id no bid has
_VOLATILE = re.compile(rb'(csrf[-_]token"[^>]*?(?:value|content)=")[^"]+')


class Lifecycle(RuleBasedStateMachine):
    """Set `Lifecycle.context` (app, session, new_client, clock) before running."""

    context: dict = {}

    # --- set-up --------------------------------------------------------------------------------------------------

    @initialize()
    def open_a_call(self):
        ctx = self.context
        self.session, self.clock = ctx["session"], ctx["clock"]
        self.session.remove()
        _empty_tables()
        self.clock.move_to(factories.CALLS_NOW)
        group, orgs, coordinator = factories.constituted_group()
        buyer = self.session.scalar(sa.select(User).where(User.organization_id == orgs[1].id, User.role == "buyer"))
        suppliers = [factories.user("supplier") for _ in range(SUPPLIERS)]
        admin = factories.user("admin")
        lots = [call_services.LotInput(f"Lot {n}", "09310000-5", Decimal("300000.00")) for n in (1, 2)]
        call = factories.call(coordinator, group, lots=lots, publish=True)
        self.session.commit()
        self.call_id, self.lot_ids = call.id, [lot.id for lot in call.lots]
        self.deadline, self.questions_deadline = call.bid_deadline, call.questions_deadline
        new_client = ctx["new_client"]
        self.api = new_client()
        self.headers = {
            "coordinator": api_token(self.api, coordinator.email),
            "buyer": api_token(self.api, buyer.email),
            "admin": api_token(self.api, admin.email),
            "anonymous": {},
        }
        for n, supplier in enumerate(suppliers):
            self.headers[f"supplier{n}"] = api_token(self.api, supplier.email)
        self.pages = {}
        for name, user in (
            ("coordinator", coordinator),
            ("buyer", buyer),
            *((f"supplier{n}", s) for n, s in enumerate(suppliers)),
        ):
            self.pages[name] = new_client()
            assert login(self.pages[name], user.email).status_code == 302
        self.bids: dict[int, dict] = {}  # id -> {"supplier", "lot", "amount", "status"}
        self.keys: dict[tuple[int, str], int] = {}  # (supplier, Idempotency-Key) -> bid id

    # --- what the others see ------------------------------------------------------------------------------------

    def _observers(self, actor: str) -> list[str]:
        """Every other role: the coordinator, a member buyer, the admin, an anonymous visitor, another supplier."""
        other = f"supplier{(int(actor[-1]) + 1) % SUPPLIERS}" if actor.startswith("supplier") else "supplier0"
        return ["coordinator", "buyer", "admin", "anonymous", other]

    def _view(self, observer: str) -> dict[str, tuple[int, bytes]]:
        """What `observer` sees of the call. The coordinator reads its bids first: the first read after the deadline
        closes the call (and notifies), so that a view taken twice is the same."""
        call = self.call_id
        api = [f"/api/v1/calls/{call}"]
        if observer != "anonymous":
            api = [f"/api/v1/calls/{call}/bids", *api, f"/api/v1/calls/{call}/ranking", f"/api/v1/calls/{call}/ocds"]
        seen = {}
        for url in api:
            response = self.api.get(url, headers=self.headers[observer])
            seen[url] = response.status_code, response.get_data()
        client = self.pages.get(observer)
        if client is not None:
            for url in (f"/calls/{call}", "/notifications", "/"):
                response = client.get(url)
                seen[url] = response.status_code, _VOLATILE.sub(rb"\1", response.get_data())
        return seen

    def _views(self, actor: str) -> dict[str, dict]:
        return {observer: self._view(observer) for observer in self._observers(actor)}

    def _unchanged_for_others(self, actor: str, before: dict, created: int | None) -> None:
        after = self._views(actor)
        for observer in before:
            changed = [url for url in after[observer] if after[observer][url] != before[observer][url]]
            assert changed == [], f"{actor}'s bid step changed what {observer} sees: {changed}"
        if created is None:
            return
        for observer in before:  # the new bid's id answers others exactly as an id that does not exist
            headers = self.headers[observer]
            found, unknown = (self.api.get(f"/api/v1/bids/{i}", headers=headers) for i in (created, UNKNOWN_BID))
            assert (found.status_code, found.get_data()) == (unknown.status_code, unknown.get_data()), observer

    # --- steps ---------------------------------------------------------------------------------------------------

    @property
    def now(self):
        return utcnow()

    def _open(self) -> bool:
        return self.now < self.deadline

    def _stored_status(self) -> str:
        self.session.expire_all()
        return self.session.scalar(sa.select(Call.status).where(Call.id == self.call_id))

    @rule(
        supplier=st.integers(0, SUPPLIERS - 1),
        lot=st.integers(0, 1),
        amount=st.sampled_from(AMOUNTS),
        key=st.none() | st.sampled_from(KEYS),
    )
    def submit_bid(self, supplier, lot, amount, key):
        actor = f"supplier{supplier}"
        before = self._views(actor)
        headers = dict(self.headers[actor])
        if key:
            headers["Idempotency-Key"] = key
        response = self.api.post(
            f"/api/v1/calls/{self.call_id}/bids",
            headers=headers,
            json={"lot_id": self.lot_ids[lot], "amount_eur": amount},
        )
        body = response.get_json()
        earlier = self.bids.get(self.keys.get((supplier, key))) if key else None
        created = None
        if earlier is not None and (earlier["lot"], earlier["amount"]) != (lot, amount):
            assert _refusal(response) == (422, "idempotency_key_mismatch")
        elif not self._open():
            assert _refusal(response) == (409, "call_closed"), body
        elif earlier is not None and earlier["status"] == "withdrawn":
            assert _refusal(response) == (409, "bid_withdrawn")
        elif earlier is not None:  # the retried request gets its first receipt back, and nothing else happens
            assert response.status_code == 201, body
            assert body["id"] == self.keys[supplier, key]
        else:
            assert response.status_code == 201, body
            for bid in self.bids.values():
                if (bid["supplier"], bid["lot"], bid["status"]) == (supplier, lot, "active"):
                    bid["status"] = "replaced"
            created = body["id"]
            self.bids[created] = {"supplier": supplier, "lot": lot, "amount": amount, "status": "active"}
            if key:
                self.keys[supplier, key] = created
            receipt = self.api.get(f"/api/v1/bids/{created}", headers=self.headers[actor])
            assert receipt.status_code == 200
            assert receipt.get_json()["receipt_sha256"] == body["receipt_sha256"]
        self._unchanged_for_others(actor, before, created)

    @rule(supplier=st.integers(0, SUPPLIERS - 1), pick=st.integers(0, 50))
    def withdraw_bid(self, supplier, pick):
        """Withdraw one of the bids the model knows (any supplier's: another supplier's bid is not found)."""
        if not self.bids:
            return
        bid_id = sorted(self.bids)[pick % len(self.bids)]
        bid = self.bids[bid_id]
        actor = f"supplier{supplier}"
        before = self._views(actor)
        response = self.api.delete(f"/api/v1/bids/{bid_id}", headers=self.headers[actor])
        if bid["supplier"] != supplier:
            assert response.status_code == 404
        elif not self._open():
            assert _refusal(response) == (409, "call_closed")
        elif bid["status"] != "active":
            assert _refusal(response) == (409, "bid_not_active")
        else:
            assert response.status_code == 204
            bid["status"] = "withdrawn"
        self._unchanged_for_others(actor, before, None)

    @rule(supplier=st.integers(0, SUPPLIERS - 1))
    def ask_question(self, supplier):
        response = self.api.post(
            f"/api/v1/calls/{self.call_id}/questions",
            headers=self.headers[f"supplier{supplier}"],
            json={"text": "Les sites sont-ils raccordés en HTA ?"},
        )
        if self.now < self.questions_deadline:
            assert response.status_code == 201, response.get_json()
        else:
            assert _refusal(response) == (409, "questions_closed")

    # The deadline instant and the second before it are drawn most: that is where a late bid would slip in.
    @rule(
        step=st.sampled_from(["deadline", "deadline", "just_before", "just_before", "minute", "hours", "days"]),
        supplier=st.integers(0, SUPPLIERS - 1),
        lot=st.integers(0, 1),
        amount=st.sampled_from(AMOUNTS),
    )
    def time_passes(self, step, supplier, lot, amount):
        """The clock moves on; at the new instant a supplier at once tries to bid (at the deadline instant itself,
        the attempt that must fail)."""
        now = self.now
        target = {
            "minute": now + timedelta(minutes=1),
            "hours": now + timedelta(hours=7),
            "days": now + timedelta(days=4),
            "deadline": self.deadline,
            "just_before": self.deadline - timedelta(seconds=1),
        }[step]
        if target > now:
            self.clock.move_to(target)
        self.submit_bid(supplier, lot, amount, None)

    @precondition(lambda self: self._open())
    @rule(offset=st.sampled_from([timedelta(seconds=1), timedelta(hours=2), timedelta(days=6)]))
    def deadline_changes(self, offset):
        """The deadline moves to a future instant (earlier or later than it was); questions close no later."""
        self.deadline = self.now + offset
        self.questions_deadline = min(self.questions_deadline, self.deadline)
        self.session.execute(
            sa.update(Call)
            .where(Call.id == self.call_id)
            .values(bid_deadline=self.deadline, questions_deadline=self.questions_deadline)
        )
        self.session.commit()

    @rule()
    def scheduler_closes_due_calls(self):
        import app.jobs.scheduler as scheduler
        from app.jobs import tasks

        scheduler._app = self.context["app"]
        try:
            closed = tasks.close_due_calls()
        finally:
            scheduler._app = None
        # Due: published and past the deadline, and not closed yet by a request (a request refused for another
        # reason rolls back the closing it started: the job then closes the call).
        due = self._stored_status() == "published" and self.now >= self.deadline
        assert closed == ([self.call_id] if due else [])
        assert (self._stored_status() == "published") == (self.now < self.deadline)

    @rule(technical=st.integers(0, 100))
    def coordinator_scores(self, technical):
        active = [bid_id for bid_id, bid in self.bids.items() if bid["status"] == "active"]
        target = active[0] if active else UNKNOWN_BID
        response = self.api.post(
            f"/api/v1/calls/{self.call_id}/scores",
            headers=self.headers["coordinator"],
            json={"bid_id": target, "scores": {"technical": technical, "environmental": 50}},
        )
        if self.now < self.deadline:
            assert _refusal(response) in (
                (403, "bids_sealed"),
                (409, "call_not_closed"),
            )
        else:
            assert response.status_code < 500

    @rule(lot=st.integers(0, 1))
    def coordinator_awards(self, lot):
        active = [i for i, b in self.bids.items() if b["status"] == "active" and b["lot"] == lot]
        response = self.api.post(
            f"/api/v1/calls/{self.call_id}/awards",
            headers=self.headers["coordinator"],
            json={"lot_id": self.lot_ids[lot], "bid_id": active[0] if active else UNKNOWN_BID},
        )
        if self.now < self.deadline:
            assert response.status_code in (403, 409), response.get_json()
        else:
            assert response.status_code < 500

    # --- invariants ----------------------------------------------------------------------------------------------

    @invariant()
    def one_active_bid_per_supplier_and_lot_and_none_at_or_after_the_deadline(self):
        if not hasattr(self, "call_id"):
            return
        self.session.expire_all()
        rows = self.session.execute(
            sa.select(Bid.id, Bid.supplier_id, Bid.lot_id, Bid.status, Bid.submitted_at).where(
                Bid.call_id == self.call_id
            )
        ).all()
        active = [(r.supplier_id, r.lot_id) for r in rows if r.status == "active"]
        assert len(active) == len(set(active))
        assert {r.id for r in rows if r.status == "active"} == {
            i for i, b in self.bids.items() if b["status"] == "active"
        }
        deadline = self.session.scalar(sa.select(Call.bid_deadline).where(Call.id == self.call_id))
        assert all(_aware(r.submitted_at) < _aware(deadline) for r in rows)


def _refusal(response) -> tuple[int, str | None]:
    """(status, error code) of an answer; the code is None for an answer that is not an error."""
    body = response.get_json(silent=True) or {}
    return response.status_code, (body.get("error") or {}).get("code")


def _aware(instant):
    """SQLite gives back naive UTC instants, PostgreSQL aware ones."""
    from datetime import UTC

    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@pytest.fixture
def long_credentials(web_app):
    """Tokens and sessions that outlive the days the machine moves the clock by (their expiry is tested elsewhere)."""
    web_app.config.update(API_TOKEN_HOURS=24 * 365, PERMANENT_SESSION_LIFETIME=timedelta(days=365))


def test_call_lifecycle_keeps_bids_sealed_single_and_on_time(app, session, new_client, clock, long_credentials):
    Lifecycle.context = {"app": app, "session": session, "new_client": new_client, "clock": clock}
    try:
        run_state_machine_as_test(
            Lifecycle,
            settings=settings(
                max_examples=12,
                stateful_step_count=12,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        Lifecycle.context = {}
