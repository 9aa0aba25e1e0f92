"""Buyer organizations, managed by administrators."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.db import reading_order
from app.errors import NotPermitted, ValidationFailed
from app.organizations.models import ORGANIZATION_KINDS, Organization
from app.validation import clean_postcode, clean_siret


@dataclass
class OrganizationValues:
    code: str
    name: str
    kind: str
    siret: str = ""
    postcode: str = ""
    is_central_government: bool = False


def _require_admin(actor: User) -> None:
    if actor is None or actor.role != "admin":
        raise NotPermitted(str(_l("Only an administrator can manage organizations.")))


def _validate(session: Session, values: OrganizationValues, current: Organization | None) -> dict:
    reasons: dict[str, list[str]] = {}
    code = (values.code or "").strip().upper()
    if not code or not code.replace("-", "").isalnum() or len(code) > 16:
        reasons["code"] = [str(_l("A short code of 1 to 16 letters or digits, for example CHU."))]
    else:
        clash = session.scalar(sa.select(Organization.id).where(Organization.code == code))
        if clash and (current is None or clash != current.id):
            reasons["code"] = [str(_l("Another organization already uses this code."))]
    if not (values.name or "").strip():
        reasons["name"] = [str(_l("The name is required."))]
    if values.kind not in ORGANIZATION_KINDS:
        reasons["kind"] = [str(_l("Choose a kind of organization."))]
    siret = None
    if (values.siret or "").strip():
        siret, problem = clean_siret(values.siret)
        if problem:
            reasons["siret"] = [problem]
        else:
            clash = session.scalar(sa.select(Organization.id).where(Organization.siret == siret))
            if clash and (current is None or clash != current.id):
                reasons["siret"] = [str(_l("Another organization already has this SIRET."))]
    postcode = None
    if (values.postcode or "").strip():
        postcode, problem = clean_postcode(values.postcode)
        if problem:
            reasons["postcode"] = [problem]
    if reasons:
        raise ValidationFailed(reasons)
    return {
        "code": code,
        "name": values.name.strip(),
        "kind": values.kind,
        "siret": siret,
        "postcode": postcode,
        "is_central_government": bool(values.is_central_government),
    }


def create_organization(session: Session, actor: User, values: OrganizationValues) -> Organization:
    _require_admin(actor)
    organization = Organization(**_validate(session, values, None))
    session.add(organization)
    session.flush()
    return organization


def update_organization(session: Session, actor: User, organization: Organization, values: OrganizationValues):
    _require_admin(actor)
    for key, value in _validate(session, values, organization).items():
        setattr(organization, key, value)
    session.flush()
    return organization


def list_buyer_organizations(session: Session) -> list[Organization]:
    return list(session.scalars(sa.select(Organization).order_by(reading_order(Organization.name))))


def organization_scope(session: Session, actor, organization: str | None, refused) -> list[int] | None:
    """The organization ids an actor reads, from an optional organization code (None: all). Buyers read their own
    organization's only: naming another one is refused with `refused`; an unknown code is invalid input."""
    wanted = None
    if organization:
        wanted = session.scalar(sa.select(Organization.id).where(Organization.code == organization.strip().upper()))
        if wanted is None:
            raise ValidationFailed({"organization": [str(_l("Unknown organization code."))]})
    if actor.role == "buyer":
        if wanted is not None and wanted != actor.organization_id:
            raise NotPermitted(str(refused))
        return [actor.organization_id]
    return None if wanted is None else [wanted]
