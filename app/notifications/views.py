"""The notification centre: the user's recent notifications, marked read one by one (following their link) or all."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.accounts.auth import login_required
from app.errors import NotFound
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


@bp.get("/notifications")
@login_required
def index():
    notifications = services.recent(db.session, current_user)
    return render_template(
        "notifications/index.html",
        notifications=[(n, message_of(n)) for n in notifications],
        unread=sum(1 for n in notifications if n.read_at is None),
    )


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def read(notification_id: int):
    try:
        services.mark_read(db.session, current_user, notification_id)
    except NotFound:  # another user's notification, or none
        abort(404)
    link = db.session.scalar(sa.select(Notification.link).where(Notification.id == notification_id))
    db.session.commit()
    return redirect(safe_next(link, url_for(".index")))


@bp.post("/notifications/read-all")
@login_required
def read_all():
    count = services.mark_read(db.session, current_user)
    db.session.commit()
    if count:
        flash(
            ngettext("%(num)d notification marked as read.", "%(num)d notifications marked as read.", count), "success"
        )
    return redirect(url_for(".index"))
