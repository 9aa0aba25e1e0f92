"""Contracts after the award: who sees which, signing after the standstill, orders under a framework agreement's
maximum (safe under concurrent orders), amendments with their cumulative change, supplier evaluations, the renewal
radar and the draft need that renews a contract, and the scheduler's notifications.

Each member sees its own organization's contracts, a supplier the ones it holds, coordinators and admins all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, joinedload

from app.actors import COORDINATORS, SEE_ALL
from app.audit.services import record
from app.calls.models import Award, Call, CallLot, Contract
from app.clock import paris_today, utcnow
from app.contracts.models import ContractAmendment, ContractOrder, SupplierEvaluation
from app.db import CENT
from app.domain import contracts as rules
from app.domain.bounds import MAX_AMOUNT, day_in_range
from app.domain.procedures import nature_of_codes, procedure_for_codes
from app.domain.text import N_
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.notifications.services import buyers_of, coordinators_of, notify
from app.organizations.models import Organization

MSG_ENDING = N_("The contract “%(title)s” of %(organization)s ends on %(ends_on)s: prepare its renewal.")
MSG_CONSUMED = N_("The framework agreement “%(title)s” of %(organization)s has used %(pct)s %% of its maximum amount.")
ENDING_NOTICE_MONTHS = 6
MAX_WINDOW_MONTHS = 120

CONTRACT_DETAILS = (
    joinedload(Contract.award).joinedload(Award.lot).joinedload(CallLot.call),
    joinedload(Contract.award).joinedload(Award.lot).joinedload(CallLot.group_lot),
)


# --- who sees what ------------------------------------------------------------------------------------------


def visible_contracts(actor) -> sa.Select:
    stmt = sa.select(Contract)
    if actor.role in SEE_ALL:
        return stmt
    if actor.role == "buyer":
        return stmt.where(Contract.organization_id == actor.organization_id)
    if actor.role == "supplier" and actor.supplier_id is not None:
        return stmt.where(Contract.supplier_id == actor.supplier_id)
    raise NotPermitted(str(_l("Contracts are for their members, their suppliers and the coordinators.")))


def get_contract(session: Session, actor, contract_id: int) -> Contract:
    contract = session.scalar(visible_contracts(actor).where(Contract.id == contract_id).options(*CONTRACT_DETAILS))
    if contract is None:
        raise NotFound(str(_l("This contract does not exist, or you may not see it.")))
    return contract


def _is_member_buyer(actor, contract: Contract) -> bool:
    return actor.role == "buyer" and actor.organization_id == contract.organization_id


def _require_member_buyer(actor, contract: Contract, message) -> None:
    if not _is_member_buyer(actor, contract):
        raise NotPermitted(str(message))


def _require_buyer_or_coordinator(actor, contract: Contract, message) -> None:
    if not (_is_member_buyer(actor, contract) or actor.role in COORDINATORS):
        raise NotPermitted(str(message))


def status_of(contract: Contract, today: date | None = None) -> str:
    today = today or paris_today()
    if contract.starts_on is None or contract.ends_on is None:
        return contract.status
    return rules.effective_status(
        contract.status, today, contract.starts_on, contract.ends_on, contract.standstill_ends_on
    )


def status_column(today: date):
    """The status by the calendar, in SQL (for filters): the same rule as rules.effective_status."""
    return sa.case(
        (
            Contract.status == "standstill",
            sa.case((Contract.standstill_ends_on >= today, "standstill"), else_="to_sign"),
        ),
        (
            Contract.status == "signed",
            sa.case((Contract.ends_on < today, "ended"), (Contract.starts_on <= today, "running"), else_="signed"),
        ),
        else_=Contract.status,
    )


def list_contracts(
    session: Session, actor, *, organization: str | None = None, status: str | None = None, today: date | None = None
) -> sa.Select:
    """The statement of the contracts the actor sees, filtered by organization code and status, newest end first."""
    stmt = visible_contracts(actor)
    if organization:
        org_id = session.scalar(sa.select(Organization.id).where(Organization.code == organization.strip().upper()))
        if org_id is None:
            raise ValidationFailed({"organization": [str(_l("Unknown organization code."))]})
        stmt = stmt.where(Contract.organization_id == org_id)
    if status:
        if status not in rules.STATUSES:
            raise ValidationFailed({"status": [str(_l("Unknown status."))]})
        stmt = stmt.where(status_column(today or paris_today()) == status)
    return stmt.options(*CONTRACT_DETAILS).order_by(Contract.ends_on.desc(), Contract.id)


def lot_of(contract: Contract) -> CallLot:
    return contract.award.lot


def title_of(contract: Contract) -> str:
    lot = lot_of(contract)
    return f"{lot.call.title} — lot {lot.number} : {lot.title}"


# --- the award: terms of each member's contract ---------------------------------------------------------------


# --- signing --------------------------------------------------------------------------------------------------


def sign_contract(session: Session, actor, contract: Contract, signed_on: date | None = None) -> Contract:
    """The member's buyer or the coordinator records the signature (the notification date DECP publishes). Refused
    during the standstill, with its end."""
    _require_buyer_or_coordinator(
        actor, contract, _l("Only the member's buyers or the coordinators sign the member's contract.")
    )
    today = paris_today()
    signed_on = signed_on or today
    if signed_on > today:
        raise ValidationFailed({"signed_on": [str(_l("The signature date cannot be in the future."))]})
    state = status_of(contract, today)
    standstill_end = contract.standstill_ends_on
    if state == "standstill" or (standstill_end is not None and signed_on <= standstill_end):
        raise Conflict(
            "standstill_running",
            str(
                _l(
                    "The standstill period runs until %(day)s: the contract can be signed the day after.",
                    day=str(standstill_end),
                )
            ),
            details={"standstill_ends_on": standstill_end.isoformat() if standstill_end else None},
        )
    if contract.status == "signed":
        raise Conflict("contract_already_signed", str(_l("This contract is already signed.")))
    contract.status, contract.signed_on, contract.signed_by_id = "signed", signed_on, actor.id
    session.flush()
    record(session, actor, "contract.signed", contract, signed_on=signed_on, organization=contract.organization.code)
    return contract


def _require_signed(contract: Contract) -> str:
    state = status_of(contract)
    if state not in ("signed", "running", "ended"):
        raise Conflict(
            "contract_not_signed",
            str(_l("The contract must be signed first.")),
            details={"status": state},
        )
    return state


# --- orders ---------------------------------------------------------------------------------------------------


@dataclass
class OrderValues:
    amount: Decimal
    description: str
    ordered_on: date | None = None


def record_order(session: Session, actor, contract: Contract, values: OrderValues) -> ContractOrder:
    """A member's buyer records an order under its signed framework agreement. The maximum holds under concurrent
    orders: one conditional UPDATE adds the amount only while the total stays within it (PostgreSQL re-checks the
    condition on the row a concurrent order just committed)."""
    _require_member_buyer(actor, contract, _l("Only the member's buyers order under its framework agreement."))
    state = _require_signed(contract)
    if contract.kind != "framework":
        raise Conflict("not_a_framework", str(_l("Orders are recorded under framework agreements only.")))
    if state == "ended":
        raise Conflict("contract_ended", str(_l("This contract has ended.")))
    reasons: dict[str, list[str]] = {}
    amount = values.amount
    if not isinstance(amount, Decimal) or amount <= 0 or amount > MAX_AMOUNT or amount != amount.quantize(CENT):
        reasons["amount_eur"] = [str(_l("An amount greater than zero, to the cent."))]
    description = (values.description or "").strip()
    if not description:
        reasons["description"] = [str(_l("Say what is ordered."))]
    elif len(description) > 500:
        reasons["description"] = [str(_l("At most 500 characters."))]
    ordered_on = values.ordered_on or paris_today()
    if not day_in_range(ordered_on) or ordered_on > paris_today():
        reasons["ordered_on"] = [str(_l("The order date cannot be in the future."))]
    elif contract.signed_on and ordered_on < contract.signed_on:
        reasons["ordered_on"] = [str(_l("The order date cannot be before the signature."))]
    if reasons:
        raise ValidationFailed(reasons)
    row = session.execute(
        sa.update(Contract)
        .where(
            Contract.id == contract.id, Contract.ordered_amount + amount <= Contract.amount + Contract.amended_amount
        )
        .values(ordered_amount=Contract.ordered_amount + amount)
        .returning(Contract.ordered_amount, Contract.amount + Contract.amended_amount)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        session.refresh(contract)
        left = contract.current_amount - contract.ordered_amount
        raise Conflict(
            "ceiling_exceeded",
            str(_l("This order goes past the maximum amount of the framework agreement.")),
            details={
                "ceiling_eur": f"{contract.current_amount:.2f}",
                "ordered_eur": f"{contract.ordered_amount:.2f}",
                "available_eur": f"{left:.2f}",
            },
        )
    after, ceiling = Decimal(row[0]), Decimal(row[1])
    order = ContractOrder(
        contract_id=contract.id,
        amount=amount,
        description=description,
        ordered_on=ordered_on,
        created_by_id=getattr(actor, "id", None),
    )
    session.add(order)
    session.flush()
    session.refresh(contract)
    if rules.crossed_alerts(after - amount, after, ceiling):
        _alert_consumption(session, contract)
    return order


def _alert_consumption(session: Session, contract: Contract) -> bool:
    """Tell the member's buyers and the coordinators once per level (80 %, then 100 %); a conditional update makes
    the notice go out once even when orders and the scheduler cross the level together."""
    ceiling = contract.current_amount
    pct = rules.consumption_pct(contract.ordered_amount, ceiling)
    levels = [level for level in rules.CONSUMPTION_ALERTS if pct >= level]
    if not levels:
        return False
    level = max(levels)
    done = session.execute(
        sa.update(Contract)
        .where(Contract.id == contract.id, Contract.alerted_pct < level)
        .values(alerted_pct=level)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        return False
    session.refresh(contract)
    notify(
        session,
        buyers_of(session, [contract.organization_id]) + coordinators_of(session, None),
        "framework_consumed",
        MSG_CONSUMED,
        {"title": title_of(contract), "organization": contract.organization.code, "pct": str(level)},
        f"/contracts/{contract.id}",
    )
    return True


def orders_of(session: Session, contract: Contract) -> list[ContractOrder]:
    return list(
        session.scalars(
            sa.select(ContractOrder)
            .where(ContractOrder.contract_id == contract.id)
            .order_by(ContractOrder.ordered_on.desc(), ContractOrder.created_at.desc())
        )
    )


# --- amendments ---------------------------------------------------------------------------------------------


@dataclass
class AmendmentValues:
    amount_delta: Decimal
    reason: str
    months_delta: int = 0
    signed_on: date | None = None


@dataclass
class AmendmentResult:
    amendment: ContractAmendment
    contract: Contract
    warnings: list[str] = field(default_factory=list)


def _eu_threshold(contract: Contract, on: date) -> Decimal | None:
    lot = lot_of(contract)
    try:
        requirement = procedure_for_codes(contract.amount, on, [lot.cpv_code], contract.organization.buyer_class)
    except ValueError:
        return None
    return requirement.formal_threshold


def amendments_of(session: Session, contract: Contract) -> list[ContractAmendment]:
    return list(
        session.scalars(
            sa.select(ContractAmendment)
            .where(ContractAmendment.contract_id == contract.id)
            .order_by(ContractAmendment.number)
        )
    )


def amend_contract(session: Session, actor, contract: Contract, values: AmendmentValues) -> AmendmentResult:
    """An amendment (avenant) of a signed contract: the change of amount and of duration, the cumulative change
    against the initial value, and the warnings of R2194-1 to R2194-10 (warnings, not refusals: the coordinator
    justifies the ground)."""
    _require_buyer_or_coordinator(actor, contract, _l("Only the member's buyers or the coordinators amend a contract."))
    _require_signed(contract)
    reasons: dict[str, list[str]] = {}
    delta = values.amount_delta
    months = values.months_delta or 0
    if not isinstance(delta, Decimal) or delta != delta.quantize(CENT) or abs(delta) > MAX_AMOUNT:
        reasons["amount_delta_eur"] = [str(_l("An amount to the cent (negative for a decrease)."))]
        delta = Decimal("0.00")
    if not -120 <= months <= 120:
        reasons["months_delta"] = [str(_l("A change from -120 to 120 months."))]
    if not reasons and delta == 0 and months == 0:
        reasons["amount_delta_eur"] = [str(_l("An amendment changes the amount, the duration or both."))]
    reason = (values.reason or "").strip()
    if not reason:
        reasons["reason"] = [str(_l("Say why the contract is amended (the ground of R2194-1 to R2194-10)."))]
    new_amount = contract.current_amount + delta
    if not reasons.get("amount_delta_eur"):
        if new_amount <= 0:
            reasons["amount_delta_eur"] = [str(_l("The contract's value must stay above zero."))]
        elif new_amount > MAX_AMOUNT:
            reasons["amount_delta_eur"] = [str(_l("Give a number no larger than 999 999 999 999,99."))]
        elif new_amount < contract.ordered_amount:
            reasons["amount_delta_eur"] = [str(_l("The value cannot fall below the amount already ordered."))]
    new_end = contract.ends_on + relativedelta(months=months) if contract.ends_on else None
    if new_end is not None and contract.starts_on is not None and new_end < contract.starts_on:
        reasons["months_delta"] = [str(_l("The contract would end before it starts."))]
    signed_on = values.signed_on or paris_today()
    if not day_in_range(signed_on) or signed_on > paris_today():
        reasons["signed_on"] = [str(_l("The signature date cannot be in the future."))]
    if reasons:
        raise ValidationFailed(reasons)
    earlier = amendments_of(session, contract)
    lot = lot_of(contract)
    months_after = (
        rules.contract_months(contract.starts_on, new_end) if contract.starts_on and new_end is not None else None
    )
    check = rules.check_amendment(
        contract.amount,
        [a.amount_delta for a in earlier],
        delta,
        nature_of_codes([lot.cpv_code]),
        eu_threshold=_eu_threshold(contract, signed_on),
        kind=contract.kind,
        months_after=months_after,
    )
    amendment = ContractAmendment(
        contract_id=contract.id,
        number=len(earlier) + 1,
        amount_delta=delta,
        months_delta=months,
        reason=reason[:4000],
        cumulative_change_pct=check.cumulative_change_pct,
        signed_on=signed_on,
        created_by_id=getattr(actor, "id", None),
    )
    session.add(amendment)
    contract.amended_amount = contract.amended_amount + delta
    contract.amended_months = contract.amended_months + months
    if new_end is not None:
        contract.ends_on = new_end
    if contract.kind == "framework" and contract.alerted_pct:
        pct = rules.consumption_pct(contract.ordered_amount, contract.current_amount)
        contract.alerted_pct = max((lvl for lvl in rules.CONSUMPTION_ALERTS if pct >= lvl), default=0)
    session.flush()
    record(session, actor, "contract.amended", contract, number=amendment.number, months_delta=months)
    return AmendmentResult(amendment, contract, [_(message, **params) for message, params in check.warnings])


def amendment_warnings(session: Session, contract: Contract) -> list[str]:
    """The warnings of the amendments so far, as the last one was checked (for the contract's page)."""
    amendments = amendments_of(session, contract)
    if not amendments:
        return []
    lot = lot_of(contract)
    *earlier, last = amendments
    check = rules.check_amendment(
        contract.amount,
        [a.amount_delta for a in earlier],
        last.amount_delta,
        nature_of_codes([lot.cpv_code]),
        eu_threshold=_eu_threshold(contract, last.signed_on),
        kind=contract.kind,
        months_after=rules.contract_months(contract.starts_on, contract.ends_on)
        if contract.starts_on and contract.ends_on
        else None,
    )
    return [_(message, **params) for message, params in check.warnings]


def cumulative_change_pct(contract: Contract, amendments: list[ContractAmendment]) -> Decimal:
    return amendments[-1].cumulative_change_pct if amendments else Decimal("0.00")


# --- supplier evaluation ------------------------------------------------------------------------------------


@dataclass
class EvaluationValues:
    quality: int
    delays: int
    environmental: int
    comment: str = ""


def evaluate_supplier(session: Session, actor, contract: Contract, values: EvaluationValues) -> SupplierEvaluation:
    """The member's buyer rates the supplier of its signed contract (1 to 5 each); a new rating replaces the last."""
    _require_member_buyer(actor, contract, _l("Only the member's buyers evaluate the supplier of its contract."))
    _require_signed(contract)
    reasons = {
        name: [str(_l("A mark from 1 to 5."))]
        for name in ("quality", "delays", "environmental")
        if not isinstance(getattr(values, name), int) or not 1 <= getattr(values, name) <= 5
    }
    if len(values.comment or "") > 4000:
        reasons["comment"] = [str(_l("At most 4000 characters."))]
    if reasons:
        raise ValidationFailed(reasons)
    evaluation = session.scalar(sa.select(SupplierEvaluation).where(SupplierEvaluation.contract_id == contract.id))
    if evaluation is None:
        evaluation = SupplierEvaluation(
            contract_id=contract.id, supplier_id=contract.supplier_id, organization_id=contract.organization_id
        )
        session.add(evaluation)
    evaluation.quality, evaluation.delays, evaluation.environmental = (
        values.quality,
        values.delays,
        values.environmental,
    )
    evaluation.comment = (values.comment or "").strip()
    evaluation.evaluated_by_id = getattr(actor, "id", None)
    evaluation.evaluated_at = utcnow()
    session.flush()
    return evaluation


@dataclass(frozen=True)
class SupplierRecord:
    count: int
    quality: Decimal
    delays: Decimal
    environmental: Decimal


def supplier_records(session: Session, supplier_ids) -> dict[int, SupplierRecord]:
    """The members' evaluations of each supplier (averages, 1 to 5), in one query: what coordinators see when they
    award next time."""
    ids = list(set(supplier_ids))
    if not ids:
        return {}
    rows = session.execute(
        sa.select(
            SupplierEvaluation.supplier_id,
            sa.func.count(),
            sa.func.avg(SupplierEvaluation.quality),
            sa.func.avg(SupplierEvaluation.delays),
            sa.func.avg(SupplierEvaluation.environmental),
        )
        .where(SupplierEvaluation.supplier_id.in_(ids))
        .group_by(SupplierEvaluation.supplier_id)
    ).all()
    tenth = Decimal("0.1")
    return {
        sid: SupplierRecord(n, Decimal(q).quantize(tenth), Decimal(d).quantize(tenth), Decimal(e).quantize(tenth))
        for sid, n, q, d, e in rows
    }


# --- the renewal radar ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Renewal:
    contract: Contract
    need: dict  # the prefilled need that would renew it
    procedure: str
    required_start: date
    procedure_start_by: date
    late: bool


def _delivery_postcode(contract: Contract) -> str | None:
    lot = lot_of(contract)
    area = (lot.group_lot.delivery_area if lot.group_lot else "") or ""
    area = area.strip()[:5]
    if len(area) == 5 and area.isdigit():
        return area
    return contract.organization.postcode


def renewal_of(contract: Contract, today: date) -> Renewal:
    """What renews a contract: a need of the same CPV code, for the same duration, at the yearly amount actually
    ordered (framework agreements) or contracted, starting the day after the end, in the same place; and the day its
    procedure must start, by the procedure the amount calls for."""
    lot = lot_of(contract)
    months = rules.contract_months(contract.starts_on, contract.ends_on)
    yearly = rules.yearly_run_rate(
        contract.ordered_amount, contract.current_amount, contract.starts_on, contract.ends_on, today, contract.kind
    )
    total = (yearly * months / 12).quantize(CENT)
    try:
        procedure = procedure_for_codes(total, today, [lot.cpv_code], contract.organization.buyer_class).code
    except ValueError:
        procedure = "formal"
    dates = rules.renewal_dates(contract.ends_on, procedure, today)
    need = {
        "title": str(_l("Renewal: %(title)s", title=lot.title))[:200],
        "cpv_code": lot.cpv_code,
        "annual_amount_eur": yearly,
        "start_date": dates.required_start,
        "duration_months": months,
        "current_contract_end": contract.ends_on,
        "delivery_postcode": _delivery_postcode(contract),
        "description": str(
            _l(
                "Renews the contract of %(supplier)s ending on %(day)s.",
                supplier=contract.supplier.name,
                day=str(contract.ends_on),
            )
        ),
    }
    return Renewal(contract, need, procedure, dates.required_start, dates.procedure_start_by, dates.late)


def expiring(
    session: Session,
    actor,
    within_months: int,
    *,
    organization: str | None = None,
    cpv_prefix: str | None = None,
    today: date | None = None,
) -> list[Renewal]:
    """Contracts (not ended) that end within `within_months`, each with what would renew it; earliest deadline
    first. Buyers see their own organization's, coordinators and admins all; suppliers nothing."""
    if actor.role not in ("buyer", *SEE_ALL):
        raise NotPermitted(str(_l("The renewal radar is for buyers and coordinators.")))
    if not 1 <= within_months <= MAX_WINDOW_MONTHS:
        raise ValidationFailed({"within_months": [str(_l("From 1 to 120 months."))]})
    today = today or paris_today()
    stmt = list_contracts(session, actor, organization=organization).where(
        Contract.ends_on >= today,
        Contract.ends_on <= today + relativedelta(months=within_months),
        Contract.starts_on.is_not(None),
    )
    if cpv_prefix:
        stmt = stmt.join(Award, Contract.award_id == Award.id).join(CallLot, Award.lot_id == CallLot.id)
        stmt = stmt.where(CallLot.cpv_code.startswith(cpv_prefix))
    renewals = [renewal_of(c, today) for c in session.scalars(stmt).unique()]
    return sorted(renewals, key=lambda r: (r.procedure_start_by, r.contract.id))


def create_renewal_need(session: Session, actor, contract: Contract):
    """The member's buyer turns the radar's proposal into a draft need of its organization."""
    from app.needs import services as needs

    _require_member_buyer(actor, contract, _l("Only the member's buyers record the needs of its organization."))
    if contract.starts_on is None or contract.ends_on is None:
        raise Conflict("contract_without_dates", str(_l("This contract has no dates to renew from.")))
    proposal = renewal_of(contract, paris_today()).need
    values = needs.NeedValues(
        title=proposal["title"],
        cpv_code=proposal["cpv_code"],
        annual_amount=proposal["annual_amount_eur"],
        start_date=proposal["start_date"],
        duration_months=proposal["duration_months"],
        description=proposal["description"],
        current_contract_end=proposal["current_contract_end"],
        delivery_postcode=proposal["delivery_postcode"],
    )
    return needs.create_need(session, actor, values, status="draft")


# --- the scheduler ------------------------------------------------------------------------------------------


def notify_contract_milestones(session: Session, today: date | None = None) -> int:
    """Contracts ending within six months (once each) and framework agreements past 80 % or 100 % of their maximum
    that were not told yet. Idempotent: each notice is claimed by a conditional update."""
    today = today or paris_today()
    sent = 0
    horizon = today + relativedelta(months=ENDING_NOTICE_MONTHS)
    ending = session.scalars(
        sa.select(Contract)
        .where(
            Contract.status == "signed",
            Contract.ending_notified_at.is_(None),
            Contract.ends_on >= today,
            Contract.ends_on <= horizon,
        )
        .options(*CONTRACT_DETAILS)
    ).unique()
    for contract in list(ending):
        claimed = session.execute(
            sa.update(Contract)
            .where(Contract.id == contract.id, Contract.ending_notified_at.is_(None))
            .values(ending_notified_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            continue
        notify(
            session,
            buyers_of(session, [contract.organization_id]) + coordinators_of(session, None),
            "contract_ending",
            MSG_ENDING,
            {"title": title_of(contract), "organization": contract.organization.code, "ends_on": str(contract.ends_on)},
            f"/contracts/{contract.id}",
        )
        sent += 1
    consumed = session.scalars(
        sa.select(Contract)
        .where(
            Contract.kind == "framework",
            Contract.ordered_amount * 100 >= (Contract.amount + Contract.amended_amount) * rules.CONSUMPTION_ALERTS[0],
            Contract.alerted_pct < rules.CONSUMPTION_ALERTS[-1],
        )
        .options(*CONTRACT_DETAILS)
    ).unique()
    for contract in list(consumed):
        if _alert_consumption(session, contract):
            sent += 1
    return sent


def call_of(contract: Contract) -> Call:
    return lot_of(contract).call


def evaluation_of(session: Session, contract: Contract) -> SupplierEvaluation | None:
    return session.scalar(sa.select(SupplierEvaluation).where(SupplierEvaluation.contract_id == contract.id))


@dataclass(frozen=True)
class RenewalCounts:
    """Contracts ending within a window, counted per CPV prefix and organization code: the renewals an overlap of
    needs could gather into the next pooled group."""

    counts: dict[tuple[str, str], int]

    def for_overlap(self, prefix: str, organizations) -> int:
        return sum(self.counts.get((prefix, code), 0) for code in organizations)

    def key(self) -> tuple:
        """The counts as a hashable value (part of the key of an answer that shows them)."""
        return tuple(sorted(self.counts.items()))


def renewal_counts(session: Session, prefix_length: int, start: date, months: int) -> RenewalCounts:
    """One GROUP BY over the contracts that end within `months` from `start` and are not ended by then."""
    end = start + relativedelta(months=months)
    prefix = sa.func.substr(CallLot.cpv_code, 1, prefix_length)
    rows = session.execute(
        sa.select(prefix, Organization.code, sa.func.count(Contract.id))
        .join(Award, Contract.award_id == Award.id)
        .join(CallLot, Award.lot_id == CallLot.id)
        .join(Organization, Contract.organization_id == Organization.id)
        .where(Contract.ends_on >= start, Contract.ends_on < end)
        .group_by(prefix, Organization.code)
    ).all()
    return RenewalCounts({(p, code): n for p, code, n in rows})


def contract_values_by_prefix(
    session: Session,
    prefix_length: int,
    organization_ids: list[int] | None,
    *,
    parent: str | None = None,
    year: int | None = None,
) -> dict[str, Decimal]:
    """The total value (amendments included, excl. VAT) of the Mutualis contracts per CPV prefix, for the spend map:
    of these organizations (None: all), under `parent`, in force during `year` (None: every contract not ended).
    One GROUP BY."""
    prefix = sa.func.substr(CallLot.cpv_code, 1, prefix_length)
    stmt = (
        sa.select(prefix, sa.func.sum(Contract.amount + Contract.amended_amount))
        .join(Award, Contract.award_id == Award.id)
        .join(CallLot, Award.lot_id == CallLot.id)
        .group_by(prefix)
    )
    if organization_ids is not None:
        stmt = stmt.where(Contract.organization_id.in_(organization_ids))
    if parent:
        stmt = stmt.where(CallLot.cpv_code.startswith(parent))
    if year is not None:
        stmt = stmt.where(Contract.starts_on <= date(year, 12, 31), Contract.ends_on >= date(year, 1, 1))
    else:
        stmt = stmt.where(sa.or_(Contract.ends_on.is_(None), Contract.ends_on >= paris_today()))
    return {str(p): Decimal(total).quantize(CENT) for p, total in session.execute(stmt) if total}
