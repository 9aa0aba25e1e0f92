"""The group's activity log (every change, who made it, the values before and after), the version a change bumps,
and what the group's notifications say."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.groups.models import GroupEvent, PurchaseGroup
from app.groups.services.access import require_visible
from app.notifications.services import notify
from app.organizations.models import Organization


def _actor_label(actor) -> str:
    return getattr(actor, "email", None) or "system"


def record_event(session: Session, group: PurchaseGroup, actor, action: str, before=None, after=None) -> GroupEvent:
    event = GroupEvent(
        group_id=group.id,
        actor_id=getattr(actor, "id", None),
        actor_label=_actor_label(actor),
        action=action,
        before=jsonable(before),
        after=jsonable(after),
    )
    session.add(event)
    return event


def jsonable(values):
    if values is None:
        return None
    out = {}
    for key, value in values.items():
        if isinstance(value, Decimal):
            value = f"{value:.2f}"
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, dict):
            value = jsonable(value)
        out[key] = value
    return out


def events(session: Session, actor, group: PurchaseGroup) -> list[GroupEvent]:
    require_visible(actor, group)
    return list(
        session.scalars(
            sa.select(GroupEvent)
            .where(GroupEvent.group_id == group.id)
            .order_by(GroupEvent.at.desc(), GroupEvent.id.desc())
        )
    )


def touch(group: PurchaseGroup) -> None:
    """Any change to a group (members, needs, lots) gives it a new version."""
    group.updated_at = utcnow()


def _group_link(group: PurchaseGroup) -> str:
    return f"/groups/{group.id}"


def _message_params(group: PurchaseGroup, organization: Organization | None = None, **extra) -> dict:
    params = {"group": group.name}
    if organization is not None:
        params["organization"] = organization.name
    params.update(extra)
    return params


def notify_about(session: Session, users, kind: str, message: str, group: PurchaseGroup, organization=None, **extra):
    """Notify `users` of a change to the group: the message gets the group's name (and the organization's, and
    `extra`), the notification links to the group's page."""
    notify(session, users, kind, message, _message_params(group, organization, **extra), _group_link(group))
