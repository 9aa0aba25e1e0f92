"""Mail leaves after the commit, through a real SMTP server: a request that rolls back has mailed nobody, one that
commits mails once its change can be seen by anyone, and a mail server that refuses never undoes the action.

The flow: a call whose deadline has passed is still "published" (the scheduler did not run); the coordinator's first
score closes it, which notifies the coordinators (in the app and by mail), then saves the score."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.calls.models import Bid, Call
from app.notifications.models import Notification
from tests import factories
from tests.conftest import csrf_from, english
from tests.factories import CALLS_DEADLINE
from tests.mailbox import free_port


@pytest.fixture
def closing(db, clock):
    """A published call with one bid, its deadline just passed; the coordinator's client."""
    group, _orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord@x.fr"
    supplier = factories.user("supplier")
    call = factories.call(coordinator, group, publish=True)
    bid = factories.bid(supplier, call, "450000")
    db.session.commit()
    clock.move_to(CALLS_DEADLINE + timedelta(hours=1))
    return {"call_id": call.id, "bid_id": bid.id}


def _score(client, closing, technical: str):
    token = csrf_from(client.get("/").get_data(as_text=True))  # not the call page: reading it would close the call
    bid_id = closing["bid_id"]
    return client.post(
        f"/calls/{closing['call_id']}/scores",
        data={"csrf_token": token, "bid_id": bid_id, f"score-{bid_id}-technical": technical},
    )


def _call_status(db, call_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Call, call_id).status


def test_a_refused_request_mails_nobody_and_an_accepted_one_mails_after_its_commit(new_client, db, closing, mailbox):
    other = sa.create_engine(db.engine.url.render_as_string(hide_password=False))  # another connection
    call_id = closing["call_id"]

    def status_seen_by_another_connection():
        with other.connect() as connection:
            return connection.scalar(sa.select(Call.status).where(Call.id == call_id))

    mailbox.on_receive = status_seen_by_another_connection
    coordinator = english(new_client(), "coord@x.fr")
    try:
        refused = _score(coordinator, closing, "120")  # the call closes (mail queued), then the score is refused
        assert refused.status_code == 400 and "A score from 0 to 100." in refused.get_data(as_text=True)
        assert mailbox.received == []
        assert _call_status(db, call_id) == "published"  # rolled back, notification included
        assert (
            db.session.scalar(sa.select(sa.func.count(Notification.id)).where(Notification.kind == "call_closed")) == 0
        )

        accepted = _score(coordinator, closing, "60")
        assert accepted.status_code == 302
    finally:
        other.dispose()
    assert [received.message["To"] for received in mailbox.received] == ["coord@x.fr"]
    assert "est clôturée" in mailbox.received[0].message["Subject"]  # mail is in French, the platform's language
    assert mailbox.received[0].seen == "closed"  # committed before the mail left: another connection sees it
    assert _call_status(db, call_id) == "closed"
    assert [s.score for s in db.session.get(Bid, closing["bid_id"]).scores] == [60]


@pytest.mark.parametrize("server", ["refuses every message", "is not listening"])
def test_a_mail_that_cannot_be_sent_leaves_the_action_done_and_is_logged(
    new_client, db, closing, mailbox, web_app, caplog, server
):
    if server == "refuses every message":
        mailbox.refuse = True
    else:
        web_app.config["MAIL_PORT"] = free_port()
    coordinator = english(new_client(), "coord@x.fr")
    with caplog.at_level(logging.INFO, logger="mutualis.mail"):
        response = _score(coordinator, closing, "60")
    assert response.status_code == 302
    assert _call_status(db, closing["call_id"]) == "closed"
    assert [s.criterion for s in db.session.get(Bid, closing["bid_id"]).scores] == ["technical"]
    failures = [r for r in caplog.records if r.name == "mutualis.mail" and r.levelno == logging.ERROR]
    assert len(failures) == 1 and "to=coord@x.fr" in failures[0].getMessage() and failures[0].exc_info
    assert mailbox.received == []
