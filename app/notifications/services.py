"""Notifications: in the app (unread count in the header) and by mail after the commit (log by default, SMTP when
configured)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.clock import utcnow
from app.errors import NotFound
from app.notifications.models import Notification


def buyers_of(session: Session, organization_ids: Iterable[int]) -> list[User]:
    ids = list(set(organization_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            sa.select(User).where(User.organization_id.in_(ids), User.role == "buyer", User.is_active_account)
        )
    )


def coordinators_of(session: Session, organization_id: int | None) -> list[User]:
    stmt = sa.select(User).where(User.role == "coordinator", User.is_active_account)
    if organization_id is not None:
        stmt = stmt.where(User.organization_id == organization_id)
    return list(session.scalars(stmt))


def notify(
    session: Session,
    users: Iterable[User],
    kind: str,
    message: str,
    params: dict,
    link: str | None,
    *,
    mail: bool = True,
):
    """Record one notification per user and mail the same text (in French, the platform's language) once the
    transaction commits: a request that rolls back has mailed nobody.

    `mail=False` keeps it in the app only: for what must leave no trace elsewhere, such as a bid receipt
    (mail goes to the server log when no SMTP server is configured)."""
    from app.mail import queue_mail

    recipients = {user.id: user for user in users}.values()
    for user in recipients:
        session.add(Notification(user_id=user.id, kind=kind, message=message, params=params, link=link))
    session.flush()
    if not mail or not has_app_context():
        return
    base = current_app.config.get("PUBLIC_URL", "").rstrip("/")
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        text = _(message, **params)
        subject = f"Mutualis — {text[:80]}"
    for user in recipients:
        queue_mail(session, user.email, subject, f"{text}\n\n{base}{link or ''}\n")


def unread_count(session: Session, user) -> int:
    return session.scalar(
        sa.select(sa.func.count(Notification.id)).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )


def recent(session: Session, user, limit: int = 50) -> list[Notification]:
    return list(
        session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_read(session: Session, user, notification_id: int | None = None) -> int:
    """Mark one (or all) of the user's notifications read; another user's is not found."""
    stmt = sa.update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        owned = session.scalar(
            sa.select(Notification.id).where(Notification.id == notification_id, Notification.user_id == user.id)
        )
        if owned is None:
            raise NotFound(str(_("This notification does not exist.")))
        stmt = stmt.where(Notification.id == notification_id)
    return session.execute(stmt.values(read_at=utcnow())).rowcount or 0
