from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, synonym

from app.clock import utcnow
from app.db import Id, Money, UTCDateTime, id_column
from app.domain.estimate import RENEWAL_COUNT_MAX, estimated_value, months_in_force
from app.extensions import db
from app.organizations.models import Organization
from app.reference.models import CpvCode

NEED_STATUSES = ("draft", "submitted", "withdrawn", "grouped")


def total_of(need: Need, annual: Decimal | None = None) -> Decimal:
    """The need's estimated value (renewals and options included) for its yearly amount, or for another yearly
    amount (a group's adjusted one)."""
    return estimated_value(
        need.annual_amount if annual is None else annual,
        need.duration_months,
        need.renewal_count or 0,
        need.renewal_months,
        need.options_amount or Decimal("0.00"),
    )


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
    renewal_count: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    renewal_months: Mapped[int | None] = mapped_column(sa.Integer)  # None: each renewal lasts duration_months
    options_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    # The estimated value over the whole life (R2121-1): stored so that SQL aggregates can sum it; kept by
    # _keep_total below whenever a need is flushed.
    total_amount: Mapped[Decimal] = mapped_column("total_amount_eur", Money, default=lambda ctx: _inserted_total(ctx))
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
        sa.CheckConstraint(f"renewal_count BETWEEN 0 AND {RENEWAL_COUNT_MAX}", name="renewal_count_range"),
        sa.CheckConstraint("renewal_months IS NULL OR renewal_months BETWEEN 1 AND 120", name="renewal_months_range"),
        sa.CheckConstraint("options_amount >= 0", name="options_amount_not_negative"),
        sa.Index("ix_need_status_start", "status", "start_date"),
        sa.Index("ix_need_organization_status", "organization_id", "status"),
        sa.Index("ix_need_start_date_id", "start_date", "id"),  # the needs list's default order
    )

    total_amount_eur = synonym("total_amount")

    @property
    def months_in_force(self) -> int:
        return months_in_force(self.duration_months, self.renewal_count or 0, self.renewal_months)


def _inserted_total(context) -> Decimal:
    """The total of a row inserted without one (bulk inserts through SQLAlchemy Core: the data generator, tests)."""
    row = context.get_current_parameters()
    return estimated_value(
        row["annual_amount"],
        row["duration_months"],
        row.get("renewal_count") or 0,
        row.get("renewal_months"),
        row.get("options_amount") or Decimal("0.00"),
    )


@event.listens_for(Session, "before_flush")
def _keep_total(session, flush_context, instances):
    """The stored total follows the amounts it is computed from, whoever changed them."""
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Need) and obj.annual_amount is not None and obj.duration_months is not None:
            total = total_of(obj)
            if obj.total_amount != total:
                obj.total_amount = total
