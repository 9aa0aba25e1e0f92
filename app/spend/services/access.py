"""Who reads which organization's spend: buyers their own organization's, coordinators and admins every one's,
suppliers none."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.actors import SEE_ALL, require_role
from app.errors import NotPermitted, ValidationFailed
from app.organizations.models import Organization

READER_ROLES = ("buyer", *SEE_ALL)


def check_reader(actor) -> None:
    require_role(actor, READER_ROLES, _l("Spend is for buyers and coordinators; suppliers do not see it."))


def reader_scope(session: Session, actor, organization: str | None) -> list[int] | None:
    """The organization ids the actor reads (None: all). A buyer naming another organization is refused."""
    check_reader(actor)
    wanted = None
    if organization:
        wanted = session.scalar(sa.select(Organization.id).where(Organization.code == organization.strip().upper()))
        if wanted is None:
            raise ValidationFailed({"organization": [str(_l("Unknown organization code."))]})
    if actor.role == "buyer":
        if wanted is not None and wanted != actor.organization_id:
            raise NotPermitted(str(_l("Buyers see their own organization's spend only.")))
        return [actor.organization_id]
    return None if wanted is None else [wanted]
