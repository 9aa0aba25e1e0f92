from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import CENT, Id, Money, UTCDateTime, id_column
from app.extensions import db
from app.organizations.models import Organization
from app.reference.models import CpvCode

NEED_STATUSES = ("draft", "submitted", "withdrawn", "grouped")


def total_over_duration(annual: Decimal, months: int) -> Decimal:
    """The estimated value over the whole duration: yearly amount × months / 12, to the cent (half up)."""
    return (Decimal(annual) * months / 12).quantize(CENT, rounding=ROUND_HALF_UP)


class Need(db.Model):
    """A procurement need of one buyer organization."""

    __tablename__ = "need"

    id: Mapped[int] = id_column()
    organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    cpv_code: Mapped[str] = mapped_column(sa.ForeignKey("cpv_code.code"), index=True)
    annual_amount: Mapped[Decimal] = mapped_column(Money)
    start_date: Mapped[date] = mapped_column(sa.Date)
    duration_months: Mapped[int] = mapped_column(sa.Integer)
    quantity: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    unit: Mapped[str | None] = mapped_column(sa.String(50))
    current_contract_end: Mapped[date | None] = mapped_column(sa.Date)
    delivery_postcode: Mapped[str | None] = mapped_column(sa.String(5))
    environmental_criterion: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    social_clause: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    short_supply_chain: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    sustainability_notes: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(12), default="draft")
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship(lazy="joined")
    cpv: Mapped[CpvCode] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.CheckConstraint(f"status IN {NEED_STATUSES!r}", name="status"),
        sa.CheckConstraint("annual_amount > 0", name="annual_amount_positive"),
        sa.CheckConstraint("duration_months BETWEEN 1 AND 120", name="duration_range"),
        sa.Index("ix_need_status_start", "status", "start_date"),
        sa.Index("ix_need_organization_status", "organization_id", "status"),
    )

    @property
    def total_amount(self) -> Decimal:
        return total_over_duration(self.annual_amount, self.duration_months)
