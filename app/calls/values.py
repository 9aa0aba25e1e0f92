"""The amounts and the procedure a call publishes: one place that says what a lot's or a call's total estimated value
is, what an award is worth, and which award procedure the call follows. Open data (OCDS, DECP) and the call pages
read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from app.calls.models import Award, Call
from app.clock import PARIS
from app.domain.estimate import months_in_force
from app.domain.procedures import ProcedureRequirement, procedure_for_codes, small_lots_under


def call_total_value(call: Call) -> Decimal:
    """The call's total estimated value, excl. VAT: the sum of its lots' (the value the thresholds apply to)."""
    return sum((lot.total_amount for lot in call.lots), Decimal("0.00"))


def awarded_total_value(award: Award) -> Decimal:
    """The awarded value of a lot, excl. VAT, over the whole contract: the amount of the bid chosen."""
    return award.bid.amount


def _brought_needs(call: Call) -> list:
    return [gn.need for gn in call.group.group_needs if gn.included]


def contract_months(call: Call) -> int:
    """How long the call's contracts may be in force, in months, renewals included: the longest of the needs the
    group brought (the convention's duration when no need is counted)."""
    months = [months_in_force(n.duration_months, n.renewal_count or 0, n.renewal_months) for n in _brought_needs(call)]
    return max(months) if months else call.group.convention_duration_months


@dataclass(frozen=True)
class ContractPeriod:
    start: date
    end: date  # the last day of the initial duration
    max_extent: date  # the last day once every renewal is taken


def contract_period(call: Call) -> ContractPeriod | None:
    """The period of the call's contracts: from the earliest start of the needs brought, for the longest initial
    duration, and up to the longest duration in force with renewals (None when no need is counted)."""
    needs = _brought_needs(call)
    if not needs:
        return None
    start = min(n.start_date for n in needs)
    initial = max(n.duration_months for n in needs)

    def last_day(months: int) -> date:
        return start + relativedelta(months=months) - relativedelta(days=1)

    return ContractPeriod(start, last_day(initial), last_day(contract_months(call)))


def launch_date(call: Call, today: date) -> date:
    """The day the consultation is launched (its publication, in Paris), or `today` for a draft: the thresholds in
    force that day decide the procedure."""
    if call.published_at is not None:
        return call.published_at.astimezone(PARIS).date()
    return today


@dataclass(frozen=True)
class CallProcedure:
    requirement: ProcedureRequirement
    on: date

    @property
    def code(self) -> str:
        return self.requirement.code


def call_procedure(call: Call, today: date) -> CallProcedure | None:
    """The award procedure of the call: from its total estimated value and its lots' CPV codes, under the thresholds
    in force on its launch date, for the group's buyer class (central government if one member is)."""
    codes = [lot.cpv_code for lot in call.lots]
    if not codes:
        return None
    on = launch_date(call, today)
    central = any(m.organization.is_central_government for m in call.group.memberships if m.status != "declined")
    requirement = procedure_for_codes(call_total_value(call), on, codes, "central" if central else "other")
    return CallProcedure(requirement, on)


def small_call_lots(call: Call, procedure: CallProcedure | None) -> set[int]:
    """The ids of the call's lots that may follow an adapted procedure although the call is formal (R2123-1 2°),
    under the call's `procedure` (`call_procedure`)."""
    if procedure is None:
        return set()
    flags = small_lots_under(procedure.requirement, [lot.total_amount for lot in call.lots], procedure.on)
    return {lot.id for lot, small in zip(call.lots, flags, strict=True) if small}
