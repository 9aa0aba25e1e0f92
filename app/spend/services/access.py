"""Who reads which organization's spend: buyers their own organization's, coordinators and admins every one's,
suppliers none."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.actors import SEE_ALL, require_role
from app.organizations.services import organization_scope

READER_ROLES = ("buyer", *SEE_ALL)


def check_reader(actor) -> None:
    require_role(actor, READER_ROLES, _l("Spend is for buyers and coordinators; suppliers do not see it."))


def reader_scope(session: Session, actor, organization: str | None) -> list[int] | None:
    """The organization ids the actor reads (None: all). A buyer naming another organization is refused."""
    check_reader(actor)
    return organization_scope(session, actor, organization, _l("Buyers see their own organization's spend only."))
