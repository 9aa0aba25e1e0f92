"""Pooled-purchase groups (groupements de commandes): forming, members' answers, signatures, lots, log.

Coordinators form and manage groups; each member organization's buyers answer for it (confirm with their needs,
or decline) and record its signature of the convention. Every change is written to the group's activity log.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.db import CENT, paris_today, utcnow
from app.domain import cpv as cpv_domain
from app.domain.procedures import ProcedureRequirement, procedure_for_codes
from app.domain.text import N_
from app.domain.timeline import Step, timeline
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.groups.models import GroupEvent, GroupNeed, Lot, LotShare, Membership, PurchaseGroup
from app.needs.models import Need
from app.notifications.services import buyers_of, coordinators_of, notify
from app.organizations.models import Organization
from app.reference.models import CpvCode

EDITABLE_FIELDS = (
    "name",
    "scope_cpv_prefix",
    "planned_publication_on",
    "convention_duration_months",
    "cost_sharing",
    "single_lot_reason",
)
COST_SHARING = ("pro_rata", "equal", "coordinator")
STATUS_LABELS = {
    "forming": _l("being formed"),
    "constituted": _l("constituted"),
    "closed": _l("closed"),
    "abandoned": _l("abandoned"),
}

MSG_INVITED = N_("%(organization)s is invited to join the pooled-purchase group “%(group)s”.")
MSG_CONFIRMED = N_("%(organization)s confirmed its participation in “%(group)s”.")
MSG_DECLINED = N_("%(organization)s declined to join “%(group)s”: %(reason)s")
MSG_SIGN = N_("The convention of “%(group)s” awaits the signature of %(organization)s.")
MSG_SIGNED = N_("%(organization)s signed the convention of “%(group)s”.")
MSG_CONSTITUTED = N_("The pooled-purchase group “%(group)s” is constituted: its members' needs are now frozen.")
MSG_ABANDONED = N_("The pooled-purchase group “%(group)s” is abandoned: %(reason)s")
MSG_PROPOSED = N_("%(organization)s proposes its need “%(need)s” to “%(group)s”.")


# --- who may do what ------------------------------------------------------------------------------------------


def _require_coordinator(actor) -> None:
    if actor.role not in ("coordinator", "system"):
        raise NotPermitted(str(_l("Only purchasing coordinators manage pooled-purchase groups.")))


def _member_of(actor, group: PurchaseGroup) -> Membership:
    if actor.role != "buyer":
        raise NotPermitted(str(_l("Only the buyers of a member organization answer for it.")))
    membership = group.membership_of(actor.organization_id)
    if membership is None:
        raise NotPermitted(str(_l("Your organization is not a member of this group.")))
    return membership


def visible_groups(actor) -> sa.Select:
    stmt = sa.select(PurchaseGroup)
    if actor.role in ("coordinator", "admin", "system"):
        return stmt
    if actor.role == "buyer":
        members = sa.select(Membership.group_id).where(Membership.organization_id == actor.organization_id)
        return stmt.where(PurchaseGroup.id.in_(members))
    raise NotPermitted(str(_l("Suppliers do not see pooled-purchase groups before a call is published.")))


def get_group(session: Session, actor, group_id: int) -> PurchaseGroup:
    group = session.scalar(visible_groups(actor).where(PurchaseGroup.id == group_id))
    if group is None:
        raise NotFound(str(_l("This group does not exist, or you may not see it.")))
    return group


def _require_forming(group: PurchaseGroup) -> None:
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


# --- the activity log -----------------------------------------------------------------------------------------


def _actor_label(actor) -> str:
    return getattr(actor, "email", None) or "system"


def record_event(session: Session, group: PurchaseGroup, actor, action: str, before=None, after=None) -> GroupEvent:
    event = GroupEvent(
        group_id=group.id,
        actor_id=getattr(actor, "id", None),
        actor_label=_actor_label(actor),
        action=action,
        before=_jsonable(before),
        after=_jsonable(after),
    )
    session.add(event)
    return event


def _jsonable(values):
    if values is None:
        return None
    out = {}
    for key, value in values.items():
        if isinstance(value, Decimal):
            value = f"{value:.2f}"
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, dict):
            value = _jsonable(value)
        out[key] = value
    return out


def events(session: Session, actor, group: PurchaseGroup) -> list[GroupEvent]:
    get_group(session, actor, group.id)
    return list(
        session.scalars(
            sa.select(GroupEvent)
            .where(GroupEvent.group_id == group.id)
            .order_by(GroupEvent.at.desc(), GroupEvent.id.desc())
        )
    )


def _touch(group: PurchaseGroup) -> None:
    """Any change to a group (members, needs, lots) gives it a new version."""
    group.updated_at = utcnow()


def _link(group: PurchaseGroup) -> str:
    return f"/groups/{group.id}"


def _params(group: PurchaseGroup, organization: Organization | None = None, **extra) -> dict:
    params = {"group": group.name}
    if organization is not None:
        params["organization"] = organization.name
    params.update(extra)
    return params


# --- forming ---------------------------------------------------------------------------------------------------


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
    _require_coordinator(actor)
    reasons: dict[str, list[str]] = {}
    if not (name or "").strip():
        reasons["name"] = [str(_l("The name is required."))]
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
        notify(
            session,
            buyers_of(session, [membership.organization_id]),
            "group_invitation",
            MSG_INVITED,
            _params(group, membership.organization),
            _link(group),
        )
    return group


def _clean_prefix(raw: str | None, reasons: dict) -> str | None:
    prefix = (raw or "").strip()
    if not prefix:
        return None
    if not prefix.isdigit() or not 2 <= len(prefix) <= 8:
        reasons["scope_cpv_prefix"] = [str(_l("A CPV prefix has 2 to 8 digits."))]
        return None
    return prefix


def update_group(session: Session, actor, group: PurchaseGroup, changes: dict, *, expected_version: int) -> None:
    """Change the group's own fields; an edit based on an outdated version is refused (409 stale_version)."""
    _require_coordinator(actor)
    if expected_version != group.version:
        raise Conflict(
            "stale_version",
            str(
                _l(
                    "This group was changed by someone else since you opened it. Check the current values and "
                    "make your change again."
                )
            ),
            details={"current_version": group.version, "current": _jsonable(_group_fields(group))},
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
        if not clean["name"]:
            reasons["name"] = [str(_l("The name is required."))]
    if "scope_cpv_prefix" in clean:
        clean["scope_cpv_prefix"] = _clean_prefix(clean["scope_cpv_prefix"], reasons)
    if "convention_duration_months" in clean:
        months = clean["convention_duration_months"]
        if not isinstance(months, int) or not 1 <= months <= 120:
            reasons["convention_duration_months"] = [str(_l("A whole number of months from 1 to 120."))]
    if "cost_sharing" in clean and clean["cost_sharing"] not in COST_SHARING:
        reasons["cost_sharing"] = [str(_l("Unknown way of sharing costs."))]
    if "single_lot_reason" in clean:
        clean["single_lot_reason"] = (clean["single_lot_reason"] or "").strip()
    if reasons:
        raise ValidationFailed(reasons)
    before = {k: getattr(group, k) for k in clean if getattr(group, k) != clean[k]}
    if not before:
        return
    for key in before:
        setattr(group, key, clean[key])
    _touch(group)
    record_event(session, group, actor, "updated", before=before, after={k: clean[k] for k in before})
    session.flush()


def _group_fields(group: PurchaseGroup) -> dict:
    return {name: getattr(group, name) for name in EDITABLE_FIELDS}


def invite_organization(session: Session, actor, group: PurchaseGroup, organization_code: str) -> Membership:
    """Invite a new organization, or re-invite one that declined."""
    _require_coordinator(actor)
    _require_forming(group)
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
    _touch(group)
    session.flush()
    record_event(session, group, actor, "invited", after={"organization": organization.code})
    notify(
        session,
        buyers_of(session, [organization.id]),
        "group_invitation",
        MSG_INVITED,
        _params(group, organization),
        _link(group),
    )
    return membership


# --- members' answers -----------------------------------------------------------------------------------------


def propose_need(session: Session, actor, group: PurchaseGroup, need_id: int) -> GroupNeed:
    """A member's buyer brings one more of its organization's submitted needs to a forming group."""
    membership = _member_of(actor, group)
    _require_forming(group)
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
    _touch(group)
    session.flush()
    record_event(session, group, actor, "need_proposed", after={"need": need.id, "title": need.title})
    notify(
        session,
        coordinators_of(session, None),
        "group_need_proposed",
        MSG_PROPOSED,
        _params(group, membership.organization, need=need.title),
        _link(group),
    )
    return group_need


def confirm_membership(
    session: Session, actor, group: PurchaseGroup, need_ids=None, adjustments: dict | None = None
) -> Membership:
    """A member's buyer confirms, choosing which of its needs it brings and adjusting their amounts."""
    membership = _member_of(actor, group)
    _require_forming(group)
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
    _touch(group)
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
            "needs": [_jsonable(b) for b in brought],
        },
    )
    notify(
        session,
        coordinators_of(session, None),
        "group_confirmed",
        MSG_CONFIRMED,
        _params(group, membership.organization),
        _link(group),
    )
    notify(
        session,
        buyers_of(session, [membership.organization_id]),
        "group_signature_request",
        MSG_SIGN,
        _params(group, membership.organization),
        _link(group),
    )
    return membership


def decline_membership(session: Session, actor, group: PurchaseGroup, reason: str) -> Membership:
    membership = _member_of(actor, group)
    _require_forming(group)
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
    _touch(group)
    session.flush()
    record_event(
        session,
        group,
        actor,
        "declined",
        before=before,
        after={"organization": membership.organization.code, "status": "declined", "reason": reason.strip()},
    )
    notify(
        session,
        coordinators_of(session, None),
        "group_declined",
        MSG_DECLINED,
        _params(group, membership.organization, reason=reason.strip()),
        _link(group),
    )
    return membership


def sign_convention(
    session: Session, actor, group: PurchaseGroup, *, signed_on: date, deliberation_reference: str
) -> Membership:
    """A confirmed member records its signature: the date and reference of its deliberation or decision."""
    membership = _member_of(actor, group)
    _require_forming(group)
    if membership.status != "confirmed":
        raise Conflict("member_not_confirmed", str(_l("Confirm your participation before signing.")))
    reasons = {}
    if signed_on is None:
        reasons["signed_on"] = [str(_l("The date of the deliberation or decision is required."))]
    elif signed_on > paris_today():
        reasons["signed_on"] = [str(_l("The date cannot be in the future."))]
    if not (deliberation_reference or "").strip():
        reasons["deliberation_reference"] = [str(_l("The reference of the deliberation or decision is required."))]
    if reasons:
        raise ValidationFailed(reasons)
    membership.status, membership.signed_on = "signed", signed_on
    membership.deliberation_reference, membership.signed_at = deliberation_reference.strip(), utcnow()
    membership.signed_by_id = actor.id
    _touch(group)
    session.flush()
    record_event(
        session,
        group,
        actor,
        "signed",
        before={"status": "confirmed"},
        after={
            "organization": membership.organization.code,
            "status": "signed",
            "signed_on": signed_on,
            "deliberation_reference": membership.deliberation_reference,
        },
    )
    notify(
        session,
        coordinators_of(session, None),
        "group_signed",
        MSG_SIGNED,
        _params(group, membership.organization),
        _link(group),
    )
    return membership


def request_signatures(session: Session, actor, group: PurchaseGroup) -> int:
    """Remind the confirmed members that have not signed yet; returns how many organizations were asked."""
    _require_coordinator(actor)
    _require_forming(group)
    waiting = [m for m in group.memberships if m.status == "confirmed"]
    for membership in waiting:
        notify(
            session,
            buyers_of(session, [membership.organization_id]),
            "group_signature_request",
            MSG_SIGN,
            _params(group, membership.organization),
            _link(group),
        )
    if waiting:
        record_event(
            session,
            group,
            actor,
            "signatures_requested",
            after={"organizations": [m.organization.code for m in waiting]},
        )
    return len(waiting)


def constitute_group(session: Session, actor, group: PurchaseGroup) -> PurchaseGroup:
    """Every invited member has answered and every confirmed member has signed: the group is constituted.

    Its members' needs are then frozen (status grouped); they cannot join another group.
    """
    _require_coordinator(actor)
    _require_forming(group)
    pending = [m for m in group.memberships if m.status in ("invited", "confirmed")]
    if pending:
        raise Conflict(
            "members_pending",
            str(
                _l(
                    "Some members have not answered or not signed yet: %(organizations)s.",
                    organizations=", ".join(f"{m.organization.code} ({m.status})" for m in pending),
                )
            ),
            details={"pending": [{"organization": m.organization.code, "status": m.status} for m in pending]},
        )
    signed = [m for m in group.memberships if m.status == "signed"]
    if len(signed) < 2:
        raise Conflict("too_few_members", str(_l("A group needs at least two signed members.")))
    included = [gn for gn in group.group_needs if gn.included]
    taken = [gn.need_id for gn in included if gn.need.status != "submitted"]
    if taken:
        raise Conflict(
            "need_in_other_group",
            str(
                _l(
                    "Needs %(ids)s are no longer available (in another group, changed or withdrawn).",
                    ids=", ".join(map(str, taken)),
                )
            ),
        )
    if len(group.lots) == 1 and not group.single_lot_reason.strip():
        raise ValidationFailed(
            {
                "single_lot_reason": [
                    str(
                        _l("A group with a single lot must record why: lots are the rule in French public procurement.")
                    )
                ]
            }
        )
    for gn in included:
        gn.need.status = "grouped"
    group.group_needs[:] = included
    group.status, group.constituted_at = "constituted", utcnow()
    session.flush()
    record_event(
        session,
        group,
        actor,
        "constituted",
        before={"status": "forming"},
        after={
            "status": "constituted",
            "members": [m.organization.code for m in signed],
            "needs": [gn.need_id for gn in included],
        },
    )
    member_ids = [m.organization_id for m in signed]
    notify(
        session,
        buyers_of(session, member_ids) + coordinators_of(session, None),
        "group_constituted",
        MSG_CONSTITUTED,
        _params(group),
        _link(group),
    )
    return group


def abandon_group(session: Session, actor, group: PurchaseGroup, reason: str) -> None:
    _require_coordinator(actor)
    _require_forming(group)
    if not (reason or "").strip():
        raise ValidationFailed({"reason": [str(_l("Say why the group is abandoned."))]})
    group.status = "abandoned"
    session.flush()
    record_event(
        session,
        group,
        actor,
        "abandoned",
        before={"status": "forming"},
        after={"status": "abandoned", "reason": reason.strip()},
    )
    members = [m.organization_id for m in group.memberships if m.status != "declined"]
    notify(
        session,
        buyers_of(session, members),
        "group_abandoned",
        MSG_ABANDONED,
        _params(group, reason=reason.strip()),
        _link(group),
    )


def groups_for_need(session: Session, need_id: int) -> list[PurchaseGroup]:
    stmt = sa.select(PurchaseGroup).join(GroupNeed).where(GroupNeed.need_id == need_id)
    return list(session.scalars(stmt))


# --- figures ----------------------------------------------------------------------------------------------------


@dataclass
class MemberFigures:
    organization: Organization
    status: str
    annual_amount: Decimal
    total_amount: Decimal
    share: Decimal  # of the group's total, 0..1
    procedure_alone: ProcedureRequirement | None


@dataclass
class GroupSummary:
    annual_amount: Decimal
    total_amount: Decimal
    procedure: ProcedureRequirement | None
    rule_date: date
    members: list[MemberFigures] = field(default_factory=list)
    required_start: date | None = None
    timeline: list[Step] = field(default_factory=list)


def summarize(group: PurchaseGroup, *, today: date) -> GroupSummary:
    """Combined amounts of the needs brought (confirmed ones once members answered), shares and procedure."""
    rows = [gn for gn in group.group_needs if gn.included or _still_proposed(group, gn)]
    on = group.planned_publication_on or today
    annual: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    total: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for gn in rows:
        annual[gn.organization_id] += gn.annual_amount
        total[gn.organization_id] += gn.total_amount
    grand_total = sum(total.values(), Decimal("0.00"))
    codes = [gn.need.cpv_code for gn in rows]
    central = any(m.organization.is_central_government for m in group.memberships if m.status != "declined")
    procedure = None
    if codes:
        procedure = procedure_for_codes(grand_total, on, codes, "central" if central else "other")
    members = []
    for m in group.memberships:
        own_codes = [gn.need.cpv_code for gn in rows if gn.organization_id == m.organization_id]
        alone = (
            procedure_for_codes(total[m.organization_id], on, own_codes, m.organization.buyer_class)
            if own_codes
            else None
        )
        share = (
            (total[m.organization_id] / grand_total).quantize(Decimal("0.0001"), ROUND_HALF_UP)
            if grand_total
            else Decimal("0")
        )
        members.append(
            MemberFigures(m.organization, m.status, annual[m.organization_id], total[m.organization_id], share, alone)
        )
    starts = [gn.need.start_date for gn in rows]
    required_start = min(starts) if starts else None
    steps = timeline(procedure.code, required_start, today=today) if procedure and required_start else []
    return GroupSummary(
        sum(annual.values(), Decimal("0.00")), grand_total, procedure, on, members, required_start, steps
    )


def _still_proposed(group: PurchaseGroup, gn: GroupNeed) -> bool:
    """While a member has not answered, its proposed needs count in the estimate."""
    membership = group.membership_of(gn.organization_id)
    return group.status == "forming" and membership is not None and membership.status == "invited"


# --- lots --------------------------------------------------------------------------------------------------------


@dataclass
class LotSuggestion:
    title: str
    cpv_code: str
    delivery_area: str
    shares: dict[int, Decimal]  # organization id → yearly amount
    need_ids: list[int]


def suggest_lots(session: Session, group: PurchaseGroup, lang: str = "fr") -> list[LotSuggestion]:
    """One lot per CPV class and delivery département of the needs brought (lots are the default in French law)."""
    rows = [gn for gn in group.group_needs if gn.included or _still_proposed(group, gn)]
    buckets: dict[tuple[str, str], list[GroupNeed]] = defaultdict(list)
    for gn in rows:
        area = (gn.need.delivery_postcode or "")[:2]
        buckets[(cpv_domain.prefix(gn.need.cpv_code, "class"), area)].append(gn)
    codes = [cls.ljust(8, "0") for cls, _ in buckets]
    labels = dict(
        session.execute(
            sa.select(CpvCode.code, CpvCode.label_en if lang == "en" else CpvCode.label_fr).where(
                CpvCode.code.in_(codes)
            )
        ).all()
    )
    suggestions = []
    for (cls, area), items in sorted(buckets.items()):
        shares: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
        for gn in items:
            shares[gn.organization_id] += gn.annual_amount
        code = cls.ljust(8, "0")
        title = labels.get(code, code) + (f" — {area}" if area and len({a for _, a in buckets}) > 1 else "")
        suggestions.append(LotSuggestion(title, code, area, dict(shares), [gn.need_id for gn in items]))
    return suggestions


@dataclass
class LotValues:
    title: str
    cpv_code: str
    description: str = ""
    delivery_area: str = ""
    shares: dict[str, dict] = field(default_factory=dict)  # organization code → {"quantity", "annual_amount"}


def _validate_lot(session: Session, group: PurchaseGroup, values: LotValues) -> dict:
    reasons: dict[str, list[str]] = {}
    if not (values.title or "").strip():
        reasons["title"] = [str(_l("The title is required."))]
    code = None
    try:
        code = cpv_domain.parse_code(values.cpv_code).code
        if session.get(CpvCode, code) is None:
            reasons["cpv_code"] = [str(_l("Unknown CPV code: %(codes)s", codes=code))]
    except cpv_domain.InvalidCpvCode:
        reasons["cpv_code"] = [str(_l("A CPV code has 8 digits, for example 09310000 or 09310000-5."))]
    members = {m.organization.code: m for m in group.memberships if m.status != "declined"}
    shares = []
    for org_code, share in (values.shares or {}).items():
        membership = members.get(org_code)
        if membership is None:
            reasons[f"shares.{org_code}"] = [str(_l("Not a member of this group."))]
            continue
        amount, quantity = share.get("annual_amount"), share.get("quantity")
        if not isinstance(amount, Decimal) or amount < 0:
            reasons[f"shares.{org_code}.annual_amount"] = [str(_l("Amounts cannot be negative."))]
        if quantity is not None and (not isinstance(quantity, Decimal) or quantity < 0):
            reasons[f"shares.{org_code}.quantity"] = [str(_l("The quantity cannot be negative."))]
        shares.append((membership.organization_id, quantity, amount))
    if not reasons and not any(amount for _, _, amount in shares):
        reasons["shares"] = [str(_l("Give at least one member's share of the lot."))]
    if reasons:
        raise ValidationFailed(reasons)
    return {
        "title": values.title.strip(),
        "cpv_code": code,
        "description": (values.description or "").strip(),
        "delivery_area": (values.delivery_area or "").strip(),
        "shares": shares,
    }


def create_lot(session: Session, actor, group: PurchaseGroup, values: LotValues) -> Lot:
    _require_coordinator(actor)
    if group.status not in ("forming", "constituted"):
        raise Conflict("group_closed", str(_l("This group is %(status)s.", status=STATUS_LABELS[group.status])))
    clean = _validate_lot(session, group, values)
    number = max((lot.number for lot in group.lots), default=0) + 1
    lot = Lot(
        number=number,
        title=clean["title"],
        cpv_code=clean["cpv_code"],
        description=clean["description"],
        delivery_area=clean["delivery_area"],
        shares=[LotShare(organization_id=o, quantity=q, annual_amount=a) for o, q, a in clean["shares"]],
    )
    group.lots.append(lot)
    _touch(group)
    session.flush()
    record_event(session, group, actor, "lot_created", after=_lot_snapshot(lot))
    return lot


def update_lot(session: Session, actor, lot: Lot, values: LotValues, *, expected_version: int) -> Lot:
    _require_coordinator(actor)
    group = lot.group
    if expected_version != lot.version:
        raise Conflict(
            "stale_version",
            str(_l("This lot was changed by someone else since you opened it.")),
            details={"current_version": lot.version, "current": _lot_snapshot(lot)},
        )
    if group.status not in ("forming", "constituted"):
        raise Conflict("group_closed", str(_l("This group is %(status)s.", status=STATUS_LABELS[group.status])))
    clean = _validate_lot(session, group, values)
    before = _lot_snapshot(lot)
    lot.title, lot.cpv_code = clean["title"], clean["cpv_code"]
    lot.description, lot.delivery_area = clean["description"], clean["delivery_area"]
    lot.shares[:] = [LotShare(organization_id=o, quantity=q, annual_amount=a) for o, q, a in clean["shares"]]
    _touch(group)
    session.flush()
    record_event(session, group, actor, "lot_updated", before=before, after=_lot_snapshot(lot))
    return lot


def delete_lot(session: Session, actor, lot: Lot) -> None:
    _require_coordinator(actor)
    group = lot.group
    if group.status not in ("forming", "constituted"):
        raise Conflict("group_closed", str(_l("This group is %(status)s.", status=STATUS_LABELS[group.status])))
    before = _lot_snapshot(lot)
    group.lots.remove(lot)
    _touch(group)
    session.flush()
    record_event(session, group, actor, "lot_deleted", before=before)


def _lot_snapshot(lot: Lot) -> dict:
    return {
        "number": lot.number,
        "title": lot.title,
        "cpv_code": lot.cpv_code,
        "delivery_area": lot.delivery_area,
        "shares": {str(s.organization_id): f"{s.annual_amount:.2f}" for s in lot.shares},
    }


def get_lot(session: Session, actor, group: PurchaseGroup, lot_id: int) -> Lot:
    lot = session.get(Lot, lot_id)
    if lot is None or lot.group_id != group.id:
        raise NotFound(str(_l("This lot does not exist.")))
    return lot
