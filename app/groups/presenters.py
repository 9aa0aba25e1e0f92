"""What the group pages show, built from a group and its activity log: labels and badges, shares as percentages,
the activity log in words, and the "what changed" rows shown next to an edit refused as stale.

Nothing here decides who may do what (app.groups.services does) or reads the request; the only query is the label
of a CPV code.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.domain.cpv import code_of_prefix
from app.domain.procedures import small_lots_under
from app.groups.forms import (
    COST_SHARING_LABELS,
    EXECUTION_MODE_LABELS,
    GROUP_STATUS_LABELS,
    MEMBER_PENDING_LABELS,
    MEMBER_STATUS_LABELS,
)
from app.groups.models import GroupEvent, GroupNeed, Membership, PurchaseGroup
from app.i18n import current_language, day, money
from app.reference.models import CpvCode

GROUP_STATUS_BADGES = {
    "forming": "text-bg-warning",
    "constituted": "text-bg-success",
    "closed": "text-bg-secondary",
    "abandoned": "text-bg-dark",
}
MEMBER_STATUS_BADGES = {
    "invited": "text-bg-light border",
    "confirmed": "text-bg-info",
    "declined": "text-bg-danger",
    "signed": "text-bg-success",
}

EVENT_LABELS = {
    "formed": _l("Group formed"),
    "updated": _l("Group details changed"),
    "invited": _l("Organization invited"),
    "need_proposed": _l("Need proposed"),
    "need_changed": _l("Need changed by its buyer"),
    "confirmed": _l("Participation confirmed"),
    "declined": _l("Invitation declined"),
    "signed": _l("Convention signed"),
    "signatures_requested": _l("Signatures requested"),
    "signatures_voided": _l("Signatures voided: the terms of the convention changed"),
    "constituted": _l("Group constituted"),
    "abandoned": _l("Group abandoned"),
    "lot_created": _l("Lot created"),
    "lot_updated": _l("Lot changed"),
    "lot_deleted": _l("Lot deleted"),
}
TERM_LABELS = {
    "duration": _l("duration"),
    "cost_sharing": _l("cost sharing"),
    "execution_mode": _l("who signs and runs the contracts"),
    "members": _l("members"),
    "needs": _l("needs and their amounts"),
    "lots": _l("lots"),
}
FIELD_LABELS = {
    "changed": _l("Terms changed"),
    "to_sign_again": _l("To sign again"),
    "signed": _l("Had signed"),
    "name": _l("Name"),
    "scope": _l("Scope (CPV prefix)"),
    "scope_cpv_prefix": _l("Scope (CPV prefix)"),
    "planned_publication_on": _l("Planned publication"),
    "convention_duration_months": _l("Duration of the convention (months)"),
    "cost_sharing": _l("Cost sharing"),
    "execution_mode": _l("Who signs and runs the contracts"),
    "single_lot_reason": _l("Why a single lot"),
    "coordinator": _l("Coordinating organization"),
    "members": _l("Members"),
    "needs": _l("Needs"),
    "need": _l("Need"),
    "organization": _l("Organization"),
    "organizations": _l("Organizations"),
    "status": _l("Status"),
    "reason": _l("Reason"),
    "signed_on": _l("Date of the deliberation"),
    "deliberation_reference": _l("Deliberation reference"),
    "number": _l("Number"),
    "title": _l("Title"),
    "cpv_code": _l("CPV code"),
    "delivery_area": _l("Delivery area"),
    "shares": _l("Shares"),
    "annual_amount": _l("Yearly amount, excl. VAT"),
    "quantity": _l("Quantity"),
    "duration_months": _l("Initial duration (months)"),
    "renewal_count": _l("Renewals"),
    "renewal_months": _l("Months per renewal"),
    "options_amount": _l("Options, total excl. VAT"),
}
# The rows of the "what changed" table next to a stale edit of the group, and of a lot.
EDIT_LABELS = {
    "name": _l("Name of the group"),
    "scope_cpv_prefix": _l("Scope (CPV prefix)"),
    "planned_publication_on": _l("Planned publication of the call"),
    "convention_duration_months": _l("Duration of the convention (months)"),
    "cost_sharing": _l("How the costs of the procedure are shared"),
    "single_lot_reason": _l("Why a single lot"),
}
LOT_LABELS = {
    "title": _l("Title of the lot"),
    "cpv_code": _l("CPV code"),
    "delivery_area": _l("Delivery area"),
}


# --- labels, badges and figures ------------------------------------------------------------------------------------


def group_status_label(status: str):
    return GROUP_STATUS_LABELS.get(status, status)


def group_status_badge(status: str) -> str:
    return GROUP_STATUS_BADGES.get(status, "text-bg-light")


def member_status_label(status: str):
    return MEMBER_STATUS_LABELS.get(status, status)


def member_status_badge(status: str) -> str:
    return MEMBER_STATUS_BADGES.get(status, "text-bg-light")


def share_percent(part: Decimal | None, whole: Decimal | None = None) -> str:
    """A share as a percentage with one decimal, rounded half up: '69,8 %' / '69.8%'.

    With `whole`, the share is part / whole computed here (no double rounding of an already rounded fraction).
    """
    if part is None:
        return "—"
    value = Decimal(part)
    if whole is not None:
        value = value / Decimal(whole) if whole else Decimal("0")
    pattern = "#,##0.0\u202f%" if current_language() == "fr" else "#,##0.0%"
    return format_percent(value.quantize(Decimal("0.001"), ROUND_HALF_UP), pattern)


def cpv_label(session: Session, code: str | None, lang: str) -> str:
    """The label of the CPV code a prefix stands for ('0931' → 'Électricité'); empty when unknown."""
    if not code:
        return ""
    cpv = session.get(CpvCode, code_of_prefix(code))
    return cpv.label(lang) if cpv else ""


def pending_text(group: PurchaseGroup, pending: list[dict]) -> str:
    """The members a constitution waits for, by name, with what each still has to do."""
    names = {m.organization.code: m.organization.name for m in group.memberships}
    return ", ".join(
        f"{names.get(p['organization'], p['organization'])} ({MEMBER_PENDING_LABELS.get(p['status'], p['status'])})"
        for p in pending
    )


def small_group_lots(group: PurchaseGroup, summary) -> set[int]:
    """The ids of the group's lots that may follow an adapted procedure although the whole purchase is formal
    (R2123-1 2°), under the thresholds of the group's rule date."""
    flags = small_lots_under(summary.procedure, [lot.estimated_amount for lot in group.lots], summary.rule_date)
    return {lot.id for lot, small in zip(group.lots, flags, strict=True) if small}


# --- members and their needs ---------------------------------------------------------------------------------------


def needs_by_member(group: PurchaseGroup) -> dict[int, list[GroupNeed]]:
    by_org: dict[int, list[GroupNeed]] = defaultdict(list)
    for gn in group.group_needs:
        by_org[gn.organization_id].append(gn)
    return by_org


def need_state(group: PurchaseGroup, gn: GroupNeed) -> str:
    """'brought' (confirmed by its member), 'proposed' (member not answered yet) or 'left out'."""
    if gn.included:
        return "brought"
    membership = group.membership_of(gn.organization_id)
    if group.status == "forming" and membership is not None and membership.status == "invited":
        return "proposed"
    return "left_out"


def active_members(group: PurchaseGroup) -> list[Membership]:
    return [m for m in group.memberships if m.status != "declined"]


def brought_by_member(group: PurchaseGroup, members: list[Membership]) -> dict[int, list[GroupNeed]]:
    """Each member's needs that count in the group (brought or still proposed), for the convention."""
    needs = needs_by_member(group)
    return {
        m.organization_id: [gn for gn in needs.get(m.organization_id, []) if need_state(group, gn) != "left_out"]
        for m in members
    }


# --- the activity log ----------------------------------------------------------------------------------------------


def value_text(key: str, value, orgs: dict[int, str], titles: dict[int, str]) -> str:
    """One value of the activity log, readable: labels for codes, dates and amounts in the interface language."""
    if value is None or value == "" or value == []:
        return "—"
    if key == "status":
        return str(GROUP_STATUS_LABELS.get(value) or MEMBER_STATUS_LABELS.get(value) or value)
    if key == "cost_sharing":
        return str(COST_SHARING_LABELS.get(value, value))
    if key == "execution_mode":
        return str(EXECUTION_MODE_LABELS.get(value, value))
    if key == "changed" and isinstance(value, list):
        return ", ".join(str(TERM_LABELS.get(v, v)) for v in value)
    if key in ("planned_publication_on", "signed_on") and isinstance(value, str):
        try:
            return day(date.fromisoformat(value))
        except ValueError:
            return value
    if key in ("annual_amount", "options_amount") and isinstance(value, str):
        return money(Decimal(value))
    if key == "shares" and isinstance(value, dict):
        return ", ".join(f"{orgs.get(int(k), k)}: {money(v)}" for k, v in value.items())
    if key in ("needs", "need"):
        items = value if isinstance(value, list) else [value]
        parts = []
        for item in items:
            if isinstance(item, dict):
                need_id = item.get("need")
                text = f"#{need_id} {titles.get(need_id, '')}".strip()
                if item.get("annual_amount") is not None:
                    text += f" — {money(item['annual_amount'])} " + _("per year")
                if item.get("quantity") not in (None, ""):
                    text += " · " + _("quantity %(quantity)s", quantity=item["quantity"])
                parts.append(text)
            else:
                parts.append(f"#{item} {titles.get(item, '')}".strip())
        return "; ".join(parts)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def describe_event(event: GroupEvent, orgs: dict[int, str], titles: dict[int, str]) -> dict:
    """An activity-log entry as the page shows it: when, who, what, and each value before → after."""
    before, after = event.before or {}, event.after or {}
    keys = list(after) + [k for k in before if k not in after]
    changes = []
    for key in keys:
        changes.append(
            {
                "label": str(FIELD_LABELS.get(key, key)),
                "before": value_text(key, before[key], orgs, titles) if key in before else None,
                "after": value_text(key, after[key], orgs, titles) if key in after else None,
            }
        )
    return {
        "id": event.id,
        "at": event.at,
        "who": event.actor_label,
        "action": str(EVENT_LABELS.get(event.action, event.action)),
        "changes": changes,
    }


def describe_events(group: PurchaseGroup, events: list[GroupEvent], limit: int | None = None) -> list[dict]:
    """The group's log entries (newest first, as the service returns them), the first `limit` of them."""
    orgs = {m.organization_id: m.organization.code for m in group.memberships}
    titles = {gn.need_id: gn.need.title for gn in group.group_needs}
    return [describe_event(e, orgs, titles) for e in events[:limit]]


# --- "what changed" next to a stale edit ---------------------------------------------------------------------------


def _group_field_text(key: str, value) -> str:
    if value is None or value == "":
        return "—"
    if key == "cost_sharing":
        return str(COST_SHARING_LABELS.get(value, value))
    if key == "planned_publication_on":
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                return value
        return day(value)
    return str(value)


def what_changed(labels: dict, mine: dict, current: dict, text) -> list[dict]:
    """One row per field: the value the user sent, the current one, and whether they differ."""
    rows = []
    for key, label in labels.items():
        yours, theirs = text(key, mine.get(key)), text(key, current.get(key))
        rows.append({"key": key, "label": str(label), "yours": yours, "current": theirs, "differs": yours != theirs})
    return rows


def group_changes(mine: dict, current: dict) -> list[dict]:
    """The group's own fields: what the user sent beside the current values (from the stale_version conflict)."""
    return what_changed(EDIT_LABELS, mine, current, _group_field_text)


def lot_changes(group: PurchaseGroup, members: list[Membership], values, current: dict) -> list[dict]:
    """A lot's fields and each member's share: what the user sent (`values`, the service's LotValues) beside the
    current lot (the stale_version conflict's snapshot, shares keyed by organization id)."""
    names = {m.organization_id: m.organization.code for m in group.memberships}
    mine = {"title": values.title, "cpv_code": values.cpv_code, "delivery_area": values.delivery_area}
    rows = what_changed(LOT_LABELS, mine, current, lambda k, v: "—" if v in (None, "") else str(v))
    current_shares = {int(k): Decimal(v) for k, v in (current.get("shares") or {}).items()}
    for m in members:
        yours = values.shares.get(m.organization.code, {}).get("annual_amount")
        theirs = current_shares.get(m.organization_id)
        rows.append(
            {
                "key": f"share_{m.organization_id}",
                "label": _("Share of %(organization)s", organization=names[m.organization_id]),
                "yours": money(yours) if yours is not None else "—",
                "current": money(theirs) if theirs is not None else "—",
                "differs": (yours or Decimal("0")) != (theirs or Decimal("0")),
            }
        )
    return rows
