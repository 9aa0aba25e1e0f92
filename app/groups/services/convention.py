"""The convention constitutive: members' signatures, then the constitution of the group (its needs frozen), or its
abandonment."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.audit.services import record
from app.clock import paris_today, utcnow
from app.domain.text import N_
from app.errors import Conflict, ValidationFailed
from app.groups.models import GroupNeed, Membership, PurchaseGroup
from app.groups.services.access import member_of, require_coordinator, require_forming
from app.groups.services.events import notify_about, record_event, touch
from app.notifications.services import buyers_of, coordinators_of

REFERENCE_MAX = 200  # the deliberation reference's column

MSG_SIGN = N_("The convention of “%(group)s” awaits the signature of %(organization)s.")
MSG_SIGNED = N_("%(organization)s signed the convention of “%(group)s”.")
MSG_CONSTITUTED = N_("The pooled-purchase group “%(group)s” is constituted: its members' needs are now frozen.")
MSG_ABANDONED = N_("The pooled-purchase group “%(group)s” is abandoned: %(reason)s")


def sign_convention(
    session: Session,
    actor,
    group: PurchaseGroup,
    *,
    signed_on: date | None = None,
    deliberation_reference: str | None = None,
) -> Membership:
    """A confirmed member records its signature: the date of its deliberation or decision (today in Paris when not
    given) and its reference, recorded when given."""
    membership = member_of(actor, group)
    require_forming(group)
    if membership.status != "confirmed":
        raise Conflict("member_not_confirmed", str(_l("Confirm your participation before signing.")))
    today = paris_today()
    signed_on = signed_on or today
    reference = (deliberation_reference or "").strip()
    reasons = {}
    if signed_on > today:
        reasons["signed_on"] = [str(_l("The date cannot be in the future."))]
    if len(reference) > REFERENCE_MAX:
        reasons["deliberation_reference"] = [str(_l("At most %(n)d characters.", n=REFERENCE_MAX))]
    if reasons:
        raise ValidationFailed(reasons)
    membership.status, membership.signed_on = "signed", signed_on
    membership.deliberation_reference, membership.signed_at = reference, utcnow()
    membership.signed_by_id = actor.id
    touch(group)
    session.flush()
    record(session, actor, "convention.signed", group, organization=membership.organization.code, signed_on=signed_on)
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
    notify_about(session, coordinators_of(session, None), "group_signed", MSG_SIGNED, group, membership.organization)
    return membership


def convention_terms(group: PurchaseGroup) -> dict[str, list]:
    """What the members sign: the duration, the cost sharing, the members, the needs they bring (with the amounts
    and quantities adjusted for the group) and the lots."""
    return {
        "duration": [group.convention_duration_months],
        "cost_sharing": [group.cost_sharing],
        "execution_mode": [group.execution_mode],
        "members": sorted(m.organization.code for m in group.memberships if m.status != "declined"),
        "needs": sorted(
            [gn.need_id, str(gn.annual_amount), str(gn.quantity), *need_duration_terms(gn.need)]
            for gn in group.counted_needs()
        ),
        "lots": sorted(
            [
                lot.number,
                lot.title,
                lot.cpv_code,
                sorted([s.organization_id, str(s.annual_amount), str(s.quantity)] for s in lot.shares),
            ]
            for lot in group.lots
        ),
    }


NEED_TERM_FIELDS = ("duration_months", "renewal_count", "renewal_months", "options_amount")


def need_duration_terms(need) -> list[str]:
    """What of a need, beyond the yearly amount the group takes, makes its estimated value: durations and options."""
    return [str(getattr(need, name)) for name in NEED_TERM_FIELDS]


@contextmanager
def need_edit_watched(session: Session, actor, need) -> Iterator[None]:
    """Around a buyer's edit of a need brought to forming groups: each group's need follows the new yearly amount
    and quantity unless its member adjusted them for the group; when the convention's terms change, the group's log
    names the need and what changed, and the signatures already given are void."""
    group_needs = list(
        session.scalars(
            sa.select(GroupNeed)
            .join(PurchaseGroup)
            .where(GroupNeed.need_id == need.id, PurchaseGroup.status == "forming")
        )
    )
    fields = ("annual_amount", "quantity", *NEED_TERM_FIELDS)
    old = {name: getattr(need, name) for name in fields}
    with ExitStack() as stack:
        for gn in group_needs:
            stack.enter_context(terms_watched(session, actor, gn.group, cause={"need": need.id}))
        yield
        changed = {name: getattr(need, name) for name in fields if getattr(need, name) != old[name]}
        for gn in group_needs:
            if "annual_amount" in changed and gn.annual_amount == old["annual_amount"]:
                gn.annual_amount = need.annual_amount
            if "quantity" in changed and gn.quantity == old["quantity"]:
                gn.quantity = need.quantity
            if changed:
                touch(gn.group)
                record_event(
                    session,
                    gn.group,
                    actor,
                    "need_changed",
                    before={"need": need.id, **{name: old[name] for name in changed}},
                    after={"need": need.id, **changed},
                )


def changes_terms(func):
    """Decorate a service `(session, actor, group or lot, ...)` that may change the convention's terms."""

    @functools.wraps(func)
    def watched(session: Session, actor, target, *args, **kwargs):
        group = target if isinstance(target, PurchaseGroup) else target.group
        with terms_watched(session, actor, group):
            return func(session, actor, target, *args, **kwargs)

    return watched


@contextmanager
def terms_watched(session: Session, actor, group: PurchaseGroup, cause: dict | None = None) -> Iterator[None]:
    """Around a change of a forming group: when the convention's terms differ afterwards, the signatures already
    given are void (the members signed other terms) and the log says which change voided them."""
    before = convention_terms(group) if group.status == "forming" else None
    yield
    if before is None:
        return
    session.flush()
    after = convention_terms(group)
    changed = [name for name in after if after[name] != before[name]]
    if changed:
        void_signatures(session, actor, group, changed, cause)


def void_signatures(
    session: Session, actor, group: PurchaseGroup, changed: list[str], cause: dict | None = None
) -> list[Membership]:
    """The members that signed sign again: their signature is withdrawn (kept in the log) and they are asked anew."""
    signed = [m for m in group.memberships if m.status == "signed"]
    if not signed:
        return []
    for membership in signed:
        membership.status, membership.signed_at, membership.signed_on = "confirmed", None, None
        membership.deliberation_reference, membership.signed_by_id = "", None
    session.flush()
    codes = sorted(m.organization.code for m in signed)
    record_event(
        session,
        group,
        actor,
        "signatures_voided",
        before={"signed": codes},
        after={"changed": changed, **(cause or {}), "to_sign_again": codes},
    )
    for membership in signed:
        ask_to_sign(session, group, membership)
    return signed


def ask_to_sign(session: Session, group: PurchaseGroup, membership: Membership) -> None:
    """Ask a confirmed member's buyers to record their organization's signature of the convention."""
    notify_about(
        session,
        buyers_of(session, [membership.organization_id]),
        "group_signature_request",
        MSG_SIGN,
        group,
        membership.organization,
    )


def request_signatures(session: Session, actor, group: PurchaseGroup) -> int:
    """Remind the confirmed members that have not signed yet; returns how many organizations were asked."""
    require_coordinator(actor)
    require_forming(group)
    waiting = [m for m in group.memberships if m.status == "confirmed"]
    for membership in waiting:
        ask_to_sign(session, group, membership)
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
    require_coordinator(actor)
    require_forming(group)
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
    notify_about(
        session,
        buyers_of(session, member_ids) + coordinators_of(session, None),
        "group_constituted",
        MSG_CONSTITUTED,
        group,
    )
    return group


def abandon_group(session: Session, actor, group: PurchaseGroup, reason: str) -> None:
    require_coordinator(actor)
    require_forming(group)
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
    notify_about(session, buyers_of(session, members), "group_abandoned", MSG_ABANDONED, group, reason=reason.strip())
