"""Who sees a group and who may act on one: the checks every module of the group services starts with."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from app.actors import COORDINATORS, SEE_ALL, require_role
from app.errors import Conflict, NotFound, NotPermitted
from app.groups.models import Lot, Membership, PurchaseGroup

STATUS_LABELS = {
    "forming": _l("being formed"),
    "constituted": _l("constituted"),
    "closed": _l("closed"),
    "abandoned": _l("abandoned"),
}


# What a group's figures and its API form read (members, needs brought, lots and their shares), loaded with the
# groups in a fixed number of statements however many groups a list shows.
GROUP_DETAILS = (
    selectinload(PurchaseGroup.memberships),
    selectinload(PurchaseGroup.group_needs),
    selectinload(PurchaseGroup.lots).selectinload(Lot.shares),
)


def require_coordinator(actor) -> None:
    require_role(actor, COORDINATORS, _l("Only purchasing coordinators manage pooled-purchase groups."))


def member_group_ids(actor) -> sa.Select:
    """The ids of the groups the actor's organization is a member of: what a buyer sees of groups and calls."""
    return sa.select(Membership.group_id).where(Membership.organization_id == actor.organization_id)


def member_of(actor, group: PurchaseGroup) -> Membership:
    if actor.role != "buyer":
        raise NotPermitted(str(_l("Only the buyers of a member organization answer for it.")))
    membership = group.membership_of(actor.organization_id)
    if membership is None:
        raise NotPermitted(str(_l("Your organization is not a member of this group.")))
    return membership


def visible_groups(actor) -> sa.Select:
    stmt = sa.select(PurchaseGroup)
    if actor.role in SEE_ALL:
        return stmt
    if actor.role == "buyer":
        return stmt.where(PurchaseGroup.id.in_(member_group_ids(actor)))
    raise NotPermitted(str(_l("Suppliers do not see pooled-purchase groups before a call is published.")))


def get_group(session: Session, actor, group_id: int, options=()) -> PurchaseGroup:
    """The group if the actor may see it; `options` load what the caller shows with it (in the same statement, or
    one more per collection with selectinload)."""
    group = session.scalar(visible_groups(actor).where(PurchaseGroup.id == group_id).options(*options))
    if group is None:
        raise NotFound(str(_l("This group does not exist, or you may not see it.")))
    return group


def require_visible(actor, group: PurchaseGroup) -> None:
    """get_group's check on a group already loaded, from its memberships (loaded with it by GROUP_DETAILS): no
    statement to read the group again."""
    if actor.role in SEE_ALL:
        return
    if actor.role != "buyer":
        raise NotPermitted(str(_l("Suppliers do not see pooled-purchase groups before a call is published.")))
    if group.membership_of(actor.organization_id) is None:
        raise NotFound(str(_l("This group does not exist, or you may not see it.")))


def require_forming(group: PurchaseGroup) -> None:
    if group.status != "forming":
        raise Conflict(
            "group_not_forming",
            str(
                _l(
                    "This group is %(status)s: its members and needs can no longer change.",
                    status=STATUS_LABELS[group.status],
                )
            ),
        )
