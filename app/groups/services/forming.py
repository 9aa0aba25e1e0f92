"""Forming a group and its membership: the coordinator forms, edits and invites; each member organization's buyers
propose their needs, confirm (choosing and adjusting the needs they bring) or decline."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.db import CENT
from app.domain.text import N_
from app.errors import Conflict, NotPermitted, ValidationFailed
from app.groups.models import EXECUTION_MODES, GroupNeed, Membership, PurchaseGroup
from app.groups.services.access import STATUS_LABELS, member_of, require_coordinator, require_forming
from app.groups.services.convention import ask_to_sign, changes_terms
from app.groups.services.events import jsonable, notify_about, record_event, touch
from app.groups.services.summary import before_thresholds
from app.needs.models import Need
from app.notifications.services import buyers_of, coordinators_of
from app.organizations.models import Organization

EDITABLE_FIELDS = (
    "name",
    "scope_cpv_prefix",
    "planned_publication_on",
    "convention_duration_months",
    "cost_sharing",
    "execution_mode",
    "single_lot_reason",
)
COST_SHARING = ("pro_rata", "equal", "coordinator")

MSG_INVITED = N_("%(organization)s is invited to join the pooled-purchase group “%(group)s”.")
MSG_CONFIRMED = N_("%(organization)s confirmed its participation in “%(group)s”.")
MSG_DECLINED = N_("%(organization)s declined to join “%(group)s”: %(reason)s")
MSG_PROPOSED = N_("%(organization)s proposes its need “%(need)s” to “%(group)s”.")


def _eligible_needs(session: Session, need_ids) -> list[Need]:
    ids = sorted({int(i) for i in need_ids})
    needs = list(session.scalars(sa.select(Need).where(Need.id.in_(ids))))
    found = {n.id for n in needs}
    missing = [i for i in ids if i not in found]
    not_submitted = [n.id for n in needs if n.status != "submitted"]
    if missing or not_submitted:
        problems = []
        if missing:
            problems.append(str(_l("Unknown needs: %(ids)s", ids=", ".join(map(str, missing)))))
        if not_submitted:
            problems.append(
                str(
                    _l(
                        "Only submitted needs not yet in a constituted group can join a group: %(ids)s",
                        ids=", ".join(map(str, not_submitted)),
                    )
                )
            )
        raise ValidationFailed({"need_ids": problems})
    return needs


def form_group(
    session: Session,
    actor,
    *,
    name: str,
    need_ids,
    coordinator_organization_code: str | None = None,
    scope_cpv_prefix: str | None = None,
    planned_publication_on: date | None = None,
) -> PurchaseGroup:
    """A coordinator forms a group from needs (for example an overlap): their organizations are invited."""
    require_coordinator(actor)
    reasons: dict[str, list[str]] = {}
    _check_name(name, reasons)
    if not need_ids:
        reasons["need_ids"] = [str(_l("Choose at least one need."))]
    code = (coordinator_organization_code or "").strip().upper()
    if code:
        coordinator_org = session.scalar(sa.select(Organization).where(Organization.code == code))
    else:
        coordinator_org = session.get(Organization, actor.organization_id) if actor.organization_id else None
    if coordinator_org is None:
        reasons["coordinator_organization"] = [str(_l("Choose the coordinating organization."))]
    prefix = _clean_prefix(scope_cpv_prefix, reasons)
    before_thresholds(planned_publication_on, "planned_publication_on", reasons)
    if reasons:
        raise ValidationFailed(reasons)
    needs = _eligible_needs(session, need_ids)
    group = PurchaseGroup(
        name=name.strip(),
        scope_cpv_prefix=prefix,
        coordinator_organization_id=coordinator_org.id,
        created_by_id=actor.id,
        planned_publication_on=planned_publication_on,
    )
    session.add(group)
    session.flush()
    organization_ids = sorted({n.organization_id for n in needs} | {coordinator_org.id})
    for organization_id in organization_ids:
        group.memberships.append(Membership(organization_id=organization_id))
    for need in needs:
        group.group_needs.append(
            GroupNeed(
                need_id=need.id,
                organization_id=need.organization_id,
                annual_amount=need.annual_amount,
                quantity=need.quantity,
            )
        )
    session.flush()
    record_event(
        session,
        group,
        actor,
        "formed",
        after={
            "name": group.name,
            "coordinator": coordinator_org.code,
            "scope": prefix,
            "members": [m.organization.code for m in group.memberships],
            "needs": [n.id for n in needs],
        },
    )
    for membership in group.memberships:
        notify_about(
            session,
            buyers_of(session, [membership.organization_id]),
            "group_invitation",
            MSG_INVITED,
            group,
            membership.organization,
        )
    return group


NAME_MAX = 200  # PurchaseGroup.name


def _check_name(name: str | None, reasons: dict) -> None:
    text = (name or "").strip()
    if not text:
        reasons["name"] = [str(_l("The name is required."))]
    elif len(text) > NAME_MAX:
        reasons["name"] = [str(_l("At most %(n)d characters.", n=NAME_MAX))]


def _clean_prefix(raw: str | None, reasons: dict) -> str | None:
    prefix = (raw or "").strip()
    if not prefix:
        return None
    if not prefix.isdigit() or not 2 <= len(prefix) <= 8:
        reasons["scope_cpv_prefix"] = [str(_l("A CPV prefix has 2 to 8 digits."))]
        return None
    return prefix


@changes_terms
def update_group(session: Session, actor, group: PurchaseGroup, changes: dict, *, expected_version: int) -> None:
    """Change the group's own fields; an edit based on an outdated version is refused (409 stale_version)."""
    require_coordinator(actor)
    if expected_version != group.version:
        raise Conflict(
            "stale_version",
            str(
                _l(
                    "This group was changed by someone else since you opened it. Check the current values and "
                    "make your change again."
                )
            ),
            details={"current_version": group.version, "current": jsonable(_group_fields(group))},
        )
    if group.status not in ("forming", "constituted"):
        raise Conflict("group_closed", str(_l("This group is %(status)s.", status=STATUS_LABELS[group.status])))
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed({name: [str(_l("This field cannot be changed."))] for name in sorted(unknown)})
    reasons: dict[str, list[str]] = {}
    clean = dict(changes)
    if "name" in clean:
        clean["name"] = (clean["name"] or "").strip()
        _check_name(clean["name"], reasons)
    if "scope_cpv_prefix" in clean:
        clean["scope_cpv_prefix"] = _clean_prefix(clean["scope_cpv_prefix"], reasons)
    if "convention_duration_months" in clean:
        months = clean["convention_duration_months"]
        if not isinstance(months, int) or not 1 <= months <= 120:
            reasons["convention_duration_months"] = [str(_l("A whole number of months from 1 to 120."))]
    if "cost_sharing" in clean and clean["cost_sharing"] not in COST_SHARING:
        reasons["cost_sharing"] = [str(_l("Unknown way of sharing costs."))]
    if "execution_mode" in clean and clean["execution_mode"] not in EXECUTION_MODES:
        reasons["execution_mode"] = [str(_l("Unknown way of signing and running the contracts."))]
    if "single_lot_reason" in clean:
        clean["single_lot_reason"] = (clean["single_lot_reason"] or "").strip()
    if "planned_publication_on" in clean:
        before_thresholds(clean["planned_publication_on"], "planned_publication_on", reasons)
    if reasons:
        raise ValidationFailed(reasons)
    before = {k: getattr(group, k) for k in clean if getattr(group, k) != clean[k]}
    if not before:
        return
    for key in before:
        setattr(group, key, clean[key])
    touch(group)
    record_event(session, group, actor, "updated", before=before, after={k: clean[k] for k in before})
    session.flush()


def _group_fields(group: PurchaseGroup) -> dict:
    return {name: getattr(group, name) for name in EDITABLE_FIELDS}


@changes_terms
def invite_organization(session: Session, actor, group: PurchaseGroup, organization_code: str) -> Membership:
    """Invite a new organization, or re-invite one that declined."""
    require_coordinator(actor)
    require_forming(group)
    organization = session.scalar(
        sa.select(Organization).where(Organization.code == (organization_code or "").strip().upper())
    )
    if organization is None:
        raise ValidationFailed({"organization": [str(_l("Unknown organization."))]})
    membership = group.membership_of(organization.id)
    if membership is None:
        membership = Membership(organization_id=organization.id)
        group.memberships.append(membership)
    elif membership.status == "declined":
        membership.status, membership.decline_reason, membership.answered_at = "invited", "", None
        membership.invited_at = utcnow()
    else:
        raise Conflict("already_member", str(_l("This organization is already invited or a member.")))
    touch(group)
    session.flush()
    record_event(session, group, actor, "invited", after={"organization": organization.code})
    notify_about(session, buyers_of(session, [organization.id]), "group_invitation", MSG_INVITED, group, organization)
    return membership


@changes_terms
def propose_need(session: Session, actor, group: PurchaseGroup, need_id: int) -> GroupNeed:
    """A member's buyer brings one more of its organization's submitted needs to a forming group."""
    membership = member_of(actor, group)
    require_forming(group)
    if membership.status in ("declined", "signed"):
        raise Conflict("member_answered", str(_l("Your organization has already declined or signed.")))
    need = session.get(Need, need_id)
    if need is None or need.organization_id != actor.organization_id:
        raise NotPermitted(str(_l("You can only bring your own organization's needs.")))
    _eligible_needs(session, [need.id])
    if any(gn.need_id == need.id for gn in group.group_needs):
        raise Conflict("need_already_in_group", str(_l("This need is already in the group.")))
    group_need = GroupNeed(
        need_id=need.id, organization_id=need.organization_id, annual_amount=need.annual_amount, quantity=need.quantity
    )
    group.group_needs.append(group_need)
    touch(group)
    session.flush()
    record_event(session, group, actor, "need_proposed", after={"need": need.id, "title": need.title})
    notify_about(
        session,
        coordinators_of(session, None),
        "group_need_proposed",
        MSG_PROPOSED,
        group,
        membership.organization,
        need=need.title,
    )
    return group_need


@changes_terms
def confirm_membership(
    session: Session, actor, group: PurchaseGroup, need_ids=None, adjustments: dict | None = None
) -> Membership:
    """A member's buyer confirms, choosing which of its needs it brings and adjusting their amounts."""
    membership = member_of(actor, group)
    require_forming(group)
    if membership.status not in ("invited", "confirmed"):
        raise Conflict(
            "member_answered",
            str(_l("Your organization has already declined or signed: ask the coordinator to invite it again.")),
        )
    own = [gn for gn in group.group_needs if gn.organization_id == membership.organization_id]
    chosen = {gn.need_id for gn in own} if need_ids is None else {int(i) for i in need_ids}
    others = chosen - {gn.need_id for gn in own}
    if others:
        foreign = session.scalars(
            sa.select(Need.id).where(Need.id.in_(others), Need.organization_id != membership.organization_id)
        )
        if list(foreign):
            raise NotPermitted(str(_l("You can only bring your own organization's needs.")))
        for need in _eligible_needs(session, others):
            gn = GroupNeed(
                need_id=need.id,
                organization_id=need.organization_id,
                annual_amount=need.annual_amount,
                quantity=need.quantity,
            )
            group.group_needs.append(gn)
            own.append(gn)
    adjustments = {int(k): v for k, v in (adjustments or {}).items()}
    reasons: dict[str, list[str]] = {}
    for need_id, change in adjustments.items():
        if need_id not in chosen:
            reasons[f"adjustments.{need_id}"] = [str(_l("Adjust only the needs you bring."))]
            continue
        amount = change.get("annual_amount")
        if amount is not None and (not isinstance(amount, Decimal) or amount <= 0):
            reasons[f"adjustments.{need_id}.annual_amount"] = [str(_l("Amounts must stay positive."))]
        quantity = change.get("quantity")
        if quantity is not None and (not isinstance(quantity, Decimal) or quantity < 0):
            reasons[f"adjustments.{need_id}.quantity"] = [str(_l("The quantity cannot be negative."))]
    if not chosen and membership.organization_id != group.coordinator_organization_id:
        # The coordinating organization may run the procedure for the others without a need of its own.
        reasons["need_ids"] = [str(_l("Bring at least one need, or decline the invitation."))]
    if reasons:
        raise ValidationFailed(reasons)
    brought = []
    for gn in own:
        gn.included = gn.need_id in chosen
        change = adjustments.get(gn.need_id, {})
        if change.get("annual_amount") is not None:
            gn.annual_amount = change["annual_amount"].quantize(CENT)
        if "quantity" in change:
            gn.quantity = change["quantity"]
        if gn.included:
            brought.append({"need": gn.need_id, "annual_amount": gn.annual_amount, "quantity": gn.quantity})
    before = {"status": membership.status}
    membership.status, membership.answered_at = "confirmed", utcnow()
    touch(group)
    session.flush()
    record_event(
        session,
        group,
        actor,
        "confirmed",
        before=before,
        after={
            "organization": membership.organization.code,
            "status": "confirmed",
            "needs": [jsonable(b) for b in brought],
        },
    )
    notify_about(
        session, coordinators_of(session, None), "group_confirmed", MSG_CONFIRMED, group, membership.organization
    )
    ask_to_sign(session, group, membership)
    return membership


@changes_terms
def decline_membership(session: Session, actor, group: PurchaseGroup, reason: str) -> Membership:
    membership = member_of(actor, group)
    require_forming(group)
    if membership.status == "signed":
        raise Conflict("member_answered", str(_l("Your organization has already signed the convention.")))
    if not (reason or "").strip():
        raise ValidationFailed({"reason": [str(_l("Say why your organization declines."))]})
    if membership.organization_id == group.coordinator_organization_id:
        raise Conflict(
            "coordinator_cannot_decline", str(_l("The coordinating organization cannot decline its own group."))
        )
    before = {"status": membership.status}
    membership.status, membership.decline_reason, membership.answered_at = "declined", reason.strip(), utcnow()
    for gn in group.group_needs:
        if gn.organization_id == membership.organization_id:
            gn.included = False
    touch(group)
    session.flush()
    record_event(
        session,
        group,
        actor,
        "declined",
        before=before,
        after={"organization": membership.organization.code, "status": "declined", "reason": reason.strip()},
    )
    notify_about(
        session,
        coordinators_of(session, None),
        "group_declined",
        MSG_DECLINED,
        group,
        membership.organization,
        reason=reason.strip(),
    )
    return membership


def groups_for_need(session: Session, need_id: int) -> list[PurchaseGroup]:
    stmt = sa.select(PurchaseGroup).join(GroupNeed).where(GroupNeed.need_id == need_id)
    return list(session.scalars(stmt))
