from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.calls.models import Contract
from app.clock import utcnow
from app.db import Id, Money, UTCDateTime, id_column
from app.extensions import db


class ContractOrder(db.Model):
    """An order (bon de commande) of a member under its framework agreement."""

    __tablename__ = "contract_order"

    id: Mapped[int] = id_column()
    contract_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[str] = mapped_column(sa.String(500))
    ordered_on: Mapped[date] = mapped_column(sa.Date)
    created_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contract: Mapped[Contract] = relationship()

    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)


class ContractAmendment(db.Model):
    """A modification of a member's contract (avenant, R2194-1 to R2194-10): an amount and a duration change."""

    __tablename__ = "contract_amendment"

    id: Mapped[int] = id_column()
    contract_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(sa.Integer)
    amount_delta: Mapped[Decimal] = mapped_column(Money)
    months_delta: Mapped[int] = mapped_column(sa.Integer, default=0)
    reason: Mapped[str] = mapped_column(sa.Text)
    cumulative_change_pct: Mapped[Decimal] = mapped_column(sa.Numeric(9, 2))
    signed_on: Mapped[date] = mapped_column(sa.Date)
    created_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contract: Mapped[Contract] = relationship()

    __table_args__ = (sa.UniqueConstraint("contract_id", "number", name="uq_contract_amendment_contract_number"),)


class SupplierEvaluation(db.Model):
    """A member's evaluation of the supplier of its contract: quality, delays, environmental commitments (1 to 5)."""

    __tablename__ = "supplier_evaluation"

    id: Mapped[int] = id_column()
    contract_id: Mapped[int] = mapped_column(
        Id, sa.ForeignKey("contract.id", ondelete="CASCADE"), unique=True, index=True
    )
    supplier_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("supplier_company.id"), index=True)
    organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"))
    quality: Mapped[int] = mapped_column(sa.Integer)
    delays: Mapped[int] = mapped_column(sa.Integer)
    environmental: Mapped[int] = mapped_column(sa.Integer)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    evaluated_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contract: Mapped[Contract] = relationship()

    __table_args__ = (
        sa.CheckConstraint("quality BETWEEN 1 AND 5", name="quality_range"),
        sa.CheckConstraint("delays BETWEEN 1 AND 5", name="delays_range"),
        sa.CheckConstraint("environmental BETWEEN 1 AND 5", name="environmental_range"),
    )
