"""The group's figures: combined amounts of the needs brought, each member's share, the procedure the group needs and
the one each member would need alone, and the timeline to the required start."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l

from app.domain.procedures import (
    BEFORE_THRESHOLDS,
    PROCEDURE_UNKNOWN,
    ProcedureRequirement,
    load_thresholds,
    procedure_for_codes,
)
from app.domain.timeline import Step, timeline
from app.groups.models import GroupNeed, PurchaseGroup
from app.i18n import day as format_day
from app.organizations.models import Organization


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
    # The procedures cannot be told: the rule date (a planned publication stored before the threshold table was
    # checked at input) precedes every threshold. Pages and the API then say so instead of showing a procedure.
    procedure_unknown: bool = False


def before_thresholds(on: date | None, field_name: str, reasons: dict[str, list[str]]) -> None:
    """Refuse (in `reasons`) a date typed before the threshold table: no procedure could be told for it."""
    first = load_thresholds().first_covered_day()
    if on is not None and on < first:
        reasons[field_name] = [str(_l(BEFORE_THRESHOLDS, day=format_day(first)))]


def procedure_unknown_reason(summary: GroupSummary) -> str | None:
    """What to show instead of a procedure the rule date does not allow to tell (None when it is known)."""
    if not summary.procedure_unknown:
        return None
    return str(_l(PROCEDURE_UNKNOWN, day=format_day(load_thresholds().first_covered_day())))


def summarize(group: PurchaseGroup, *, today: date) -> GroupSummary:
    """Combined amounts of the needs brought (confirmed ones once members answered), shares and procedure."""
    rows = counted_needs(group)
    on = group.planned_publication_on or today
    known = load_thresholds().covers(on)
    annual: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    total: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for gn in rows:
        annual[gn.organization_id] += gn.annual_amount
        total[gn.organization_id] += gn.total_amount
    grand_total = sum(total.values(), Decimal("0.00"))
    codes = [gn.need.cpv_code for gn in rows]
    central = any(m.organization.is_central_government for m in group.memberships if m.status != "declined")
    procedure = None
    if codes and known:
        procedure = procedure_for_codes(grand_total, on, codes, "central" if central else "other")
    members = []
    for m in group.memberships:
        own_codes = [gn.need.cpv_code for gn in rows if gn.organization_id == m.organization_id]
        alone = (
            procedure_for_codes(total[m.organization_id], on, own_codes, m.organization.buyer_class)
            if own_codes and known
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
        sum(annual.values(), Decimal("0.00")),
        grand_total,
        procedure,
        on,
        members,
        required_start,
        steps,
        procedure_unknown=bool(codes) and not known,
    )


def counted_needs(group: PurchaseGroup) -> list[GroupNeed]:
    """The needs that count in the group's figures and lots: those brought, and those still proposed."""
    return group.counted_needs()
