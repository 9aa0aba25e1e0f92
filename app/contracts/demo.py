"""Demo contracts for `flask seed-demo`: the awarded demo call's framework agreements, as if the award had been made
six weeks ago (the standstill over, each member's buyer signed, the contracts running), with orders: one member past
80 % of its maximum, so that its alert shows. Built through the services, as the demo users would do it."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.calls.demo import AWARDED_GROUP
from app.calls.models import Award, Call, CallLot, Contract
from app.clock import PARIS, paris_today, utcnow
from app.contracts import services
from app.contracts.models import ContractOrder
from app.domain import contracts as rules
from app.groups.models import PurchaseGroup

# Each member's orders, in shares of its maximum: DM goes past 80 %.
ORDERS = {
    "DM": (("Nettoyage des bureaux — 1er trimestre", "0.45"), ("Remise en état après travaux", "0.37")),
    "CHU": (("Nettoyage des locaux techniques — 1er trimestre", "0.12"), ("Vitrerie annuelle", "0.05")),
    "UB": (("Nettoyage des amphithéâtres — rentrée", "0.08"),),
}


def seed_demo_contracts(session: Session) -> int:
    """Returns how many orders were recorded (0 when the demo contracts already have some)."""
    contracts = list(
        session.scalars(
            sa.select(Contract)
            .join(Award, Contract.award_id == Award.id)
            .join(CallLot, Award.lot_id == CallLot.id)
            .join(Call, CallLot.call_id == Call.id)
            .join(PurchaseGroup, Call.group_id == PurchaseGroup.id)
            .where(PurchaseGroup.name == AWARDED_GROUP)
        )
    )
    if not contracts:
        return 0
    ids = [c.id for c in contracts]
    if session.scalar(sa.select(sa.func.count(ContractOrder.id)).where(ContractOrder.contract_id.in_(ids))):
        return 0
    today = paris_today()
    awarded_at = utcnow() - timedelta(days=45)
    awarded_on = awarded_at.astimezone(PARIS).date()
    # The award is moved six weeks back, as if its standstill had run its course and the contracts had started.
    session.execute(sa.update(Award).where(Award.id.in_({c.award_id for c in contracts})).values(awarded_at=awarded_at))
    starts_on = today - timedelta(days=30)
    months = rules.contract_months(contracts[0].starts_on, contracts[0].ends_on)
    session.execute(
        sa.update(Contract)
        .where(Contract.id.in_(ids))
        .values(
            standstill_ends_on=awarded_on + timedelta(days=11),
            starts_on=starts_on,
            ends_on=starts_on + relativedelta(months=months) - timedelta(days=1),
        )
    )
    session.expire_all()
    buyers = {u.organization_id: u for u in session.scalars(sa.select(User).where(User.is_demo, User.role == "buyer"))}
    recorded = 0
    for contract in session.scalars(sa.select(Contract).where(Contract.id.in_(ids))):
        buyer = buyers.get(contract.organization_id)
        if buyer is None:
            continue
        services.sign_contract(session, buyer, contract, awarded_on + timedelta(days=12))
        for index, (description, part) in enumerate(ORDERS.get(contract.organization.code, ())):
            amount = (contract.current_amount * Decimal(part)).quantize(Decimal("0.01"), ROUND_DOWN)
            ordered_on = min(today, today - timedelta(days=25) + timedelta(days=10 * index))
            services.record_order(session, buyer, contract, services.OrderValues(amount, description, ordered_on))
            recorded += 1
    session.flush()
    return recorded
