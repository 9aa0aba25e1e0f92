"""The notification centre: the user's recent notifications, marked read one by one (following their link) or all."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app import actions
from app.accounts.auth import login_required
from app.extensions import db
from app.forms import safe_next
from app.notifications import (
    bp,
    models,  # noqa: F401
    services,
)
from app.notifications.models import Notification


def message_of(notification: Notification) -> str:
    """The stored msgid translated in the reader's language, with its parameters."""
    try:
        return _(notification.message, **(notification.params or {}))
    except (KeyError, TypeError, ValueError):  # parameters that no longer match the message: show it untranslated
        return notification.message


def _render_index(status: int = 200):
    notifications = services.recent(db.session, current_user)
    return render_template(
        "notifications/index.html",
        notifications=[(n, message_of(n)) for n in notifications],
        unread=sum(1 for n in notifications if n.read_at is None),
    ), status


@bp.get("/notifications")
@login_required
def index():
    return _render_index()


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def read(notification_id: int):
    def mark_read() -> str | None:
        services.mark_read(db.session, current_user, notification_id)  # another user's notification: not found
        return db.session.scalar(sa.select(Notification.link).where(Notification.id == notification_id))

    done = actions.submit(None, mark_read)
    if done:
        return redirect(safe_next(done.value, url_for(".index")))
    return _render_index(done.status)


@bp.post("/notifications/read-all")
@login_required
def read_all():
    done = actions.submit(None, lambda: services.mark_read(db.session, current_user))
    if not done:
        return _render_index(done.status)
    if done.value:
        flash(
            ngettext("%(num)d notification marked as read.", "%(num)d notifications marked as read.", done.value),
            "success",
        )
    return redirect(url_for(".index"))
