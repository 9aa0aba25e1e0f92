import logging

import pytest

from app.errors import NotFound
from app.notifications.services import mark_read, notify, recent, unread_count
from tests import factories


def test_notify_records_in_app_and_mails_each_user_once_after_the_commit(session, caplog):
    anne, paul = factories.user("buyer"), factories.user("buyer")
    with caplog.at_level(logging.INFO, logger="mutualis.mail"):
        notify(
            session,
            [anne, paul, anne],
            "group_invitation",
            "%(organization)s is invited to join the pooled-purchase group “%(group)s”.",
            {"organization": "CHU", "group": "Électricité"},
            "/groups/1",
        )
        assert unread_count(session, anne) == 1 and unread_count(session, paul) == 1
        assert not [r for r in caplog.records if r.name == "mutualis.mail"]  # nothing before the commit
        session.commit()
    mails = [r.getMessage() for r in caplog.records if r.name == "mutualis.mail"]
    assert len(mails) == 2 and all("/groups/1" in m for m in mails)
    assert any(f"to={anne.email}" in m for m in mails)


def test_mark_read_one_or_all_and_never_another_users(session):
    anne, paul = factories.user("buyer"), factories.user("buyer")
    for i in range(3):
        notify(session, [anne], "k", "message %(n)s", {"n": i}, None)
    notify(session, [paul], "k", "message", {}, None)
    first = recent(session, anne)[0]
    assert mark_read(session, anne, first.id) == 1 and unread_count(session, anne) == 2
    paul_note = recent(session, paul)[0]
    with pytest.raises(NotFound):
        mark_read(session, anne, paul_note.id)
    assert mark_read(session, anne) == 2 and unread_count(session, anne) == 0 and unread_count(session, paul) == 1
