"""Who may see a call and who may act on one: the checks every module of the calls services starts with."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.actors import COORDINATORS, SEE_ALL, require_role
from app.calls.models import Call
from app.errors import NotFound, NotPermitted
from app.groups.services.access import member_group_ids
from app.organizations.models import SupplierCompany


def visible_calls(actor) -> sa.Select:
    stmt = sa.select(Call)
    if actor.role in SEE_ALL:
        return stmt
    if actor.role == "buyer":
        return stmt.where(Call.group_id.in_(member_group_ids(actor)))
    if actor.role in ("supplier", "anonymous"):  # published calls are public; drafts stay unseen
        return stmt.where(Call.published_at.is_not(None))
    raise NotPermitted("")


def get_call(session: Session, actor, call_id: int, options=()) -> Call:
    """The call if the actor may see it; `options` load what the caller shows with it (as groups' get_group)."""
    call = session.scalar(visible_calls(actor).where(Call.id == call_id).options(*options))
    if call is None:
        raise NotFound(str(_l("This call does not exist, or you may not see it.")))
    return call


def require_coordinator(actor) -> None:
    require_role(actor, COORDINATORS, _l("Only purchasing coordinators manage calls for tenders."))


def require_supplier(actor) -> SupplierCompany:
    if actor.role != "supplier" or actor.supplier_id is None:
        raise NotPermitted(str(_l("Only suppliers bid or ask questions.")))
    return actor.supplier


def supplier_users(session: Session, supplier_ids) -> list:
    from app.accounts.models import User

    ids = list(supplier_ids)
    if not ids:
        return []
    return list(session.scalars(sa.select(User).where(User.supplier_id.in_(ids), User.is_active_account)))
