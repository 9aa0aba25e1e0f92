"""Who may see a call and who may act on one: the checks every module of the calls services starts with."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.calls.models import Call
from app.errors import NotFound, NotPermitted
from app.groups.models import Membership
from app.organizations.models import SupplierCompany


def visible_calls(actor) -> sa.Select:
    stmt = sa.select(Call)
    if actor.role in ("coordinator", "admin", "system"):
        return stmt
    if actor.role == "buyer":
        groups = sa.select(Membership.group_id).where(Membership.organization_id == actor.organization_id)
        return stmt.where(Call.group_id.in_(groups))
    if actor.role == "supplier":
        return stmt.where(Call.published_at.is_not(None))
    raise NotPermitted("")


def get_call(session: Session, actor, call_id: int) -> Call:
    call = session.scalar(visible_calls(actor).where(Call.id == call_id))
    if call is None:
        raise NotFound(str(_l("This call does not exist, or you may not see it.")))
    return call


def require_coordinator(actor) -> None:
    if actor.role not in ("coordinator", "system"):
        raise NotPermitted(str(_l("Only purchasing coordinators manage calls for tenders.")))


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
