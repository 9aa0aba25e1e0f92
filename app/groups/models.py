from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.clock import utcnow
from app.db import CENT, Id, Money, UTCDateTime, id_column
from app.domain.cpv import search_prefix
from app.extensions import db
from app.needs.models import Need, total_of
from app.organizations.models import Organization

GROUP_STATUSES = ("forming", "constituted", "closed", "abandoned")
# Who signs and runs the contracts (chosen in the convention): the coordinator signs and notifies for all and each
# member runs its part; each member signs and runs its own contract; or the coordinator signs and runs them for all.
EXECUTION_MODES = ("coordinator_signs", "each_member", "coordinator_for_all")
MEMBER_STATUSES = ("invited", "confirmed", "declined", "signed")


def _organization_code(column) -> sa.ScalarSelect:
    return sa.select(Organization.code).where(Organization.id == column).scalar_subquery()


class PurchaseGroup(db.Model):
    """A groupement de commandes: member organizations, one coordinator, lots, one call for all."""

    __tablename__ = "purchase_group"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(sa.String(200))
    scope_cpv_prefix: Mapped[str | None] = mapped_column(sa.String(8))
    coordinator_organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    planned_publication_on: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(12), default="forming")
    convention_duration_months: Mapped[int] = mapped_column(sa.Integer, default=48)
    cost_sharing: Mapped[str] = mapped_column(sa.String(20), default="pro_rata")
    execution_mode: Mapped[str] = mapped_column(
        sa.String(24), default="coordinator_signs", server_default="coordinator_signs"
    )
    single_lot_reason: Mapped[str] = mapped_column(sa.Text, default="")
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    constituted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    coordinator_organization: Mapped[Organization] = relationship(lazy="joined")
    # Ids are random: members are listed by organization code, needs by organization, start date and title.
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="group",
        cascade="all, delete-orphan",
        order_by=lambda: [_organization_code(Membership.organization_id), Membership.invited_at],
    )
    group_needs: Mapped[list[GroupNeed]] = relationship(
        back_populates="group",
        cascade="all, delete-orphan",
        order_by=lambda: [
            _organization_code(GroupNeed.organization_id),
            sa.select(Need.start_date).where(Need.id == GroupNeed.need_id).scalar_subquery(),
            sa.select(Need.title).where(Need.id == GroupNeed.need_id).scalar_subquery(),
        ],
    )
    lots: Mapped[list[Lot]] = relationship(back_populates="group", cascade="all, delete-orphan", order_by="Lot.number")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.CheckConstraint(f"status IN {GROUP_STATUSES!r}", name="status"),
        sa.CheckConstraint("cost_sharing IN ('pro_rata', 'equal', 'coordinator')", name="cost_sharing"),
        sa.CheckConstraint("convention_duration_months BETWEEN 1 AND 120", name="convention_duration"),
        sa.CheckConstraint(f"execution_mode IN {EXECUTION_MODES!r}", name="execution_mode"),
    )

    def membership_of(self, organization_id: int) -> Membership | None:
        return next((m for m in self.memberships if m.organization_id == organization_id), None)

    def counted_needs(self) -> list[GroupNeed]:
        """The needs that count in the group's figures and lots: those brought, and, while a member has not
        answered, those still proposed to it."""

        def still_proposed(gn: GroupNeed) -> bool:
            membership = self.membership_of(gn.organization_id)
            return self.status == "forming" and membership is not None and membership.status == "invited"

        return [gn for gn in self.group_needs if gn.included or still_proposed(gn)]

    def total_for(self, organization_id: int, annual: Decimal, cpv_code: str | None = None) -> Decimal:
        """The total estimated value (renewals and options included) of a member's yearly amount in this group: the
        yearly amount times the ratio total / yearly of the member's counted needs under `cpv_code` (a lot's code),
        else of all its counted needs, else of all the group's; the yearly amount itself when the group counts
        none. A member's whole yearly amount for a lot gives exactly its needs' total."""
        rows = self.counted_needs()
        own = [gn for gn in rows if gn.organization_id == organization_id]
        prefix = search_prefix(cpv_code)
        own = [gn for gn in own if prefix and gn.need.cpv_code.startswith(prefix)] or own or rows
        yearly = sum((gn.annual_amount for gn in own), Decimal("0.00"))
        if not yearly:
            return Decimal(annual).quantize(CENT)
        total = sum((gn.total_amount for gn in own), Decimal("0.00"))
        return (Decimal(annual) * total / yearly).quantize(CENT, ROUND_HALF_UP)


class Membership(db.Model):
    """An organization invited to a group: it confirms (with its needs) or declines, then signs the convention."""

    __tablename__ = "membership"

    id: Mapped[int] = id_column()
    group_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("purchase_group.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="invited")
    decline_reason: Mapped[str] = mapped_column(sa.Text, default="")
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_on: Mapped[date | None] = mapped_column(sa.Date)  # date of the deliberation or decision
    deliberation_reference: Mapped[str] = mapped_column(sa.String(200), default="")
    signed_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))

    group: Mapped[PurchaseGroup] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("group_id", "organization_id", name="uq_membership_group_organization"),
        sa.CheckConstraint(f"status IN {MEMBER_STATUSES!r}", name="status"),
    )


class GroupNeed(db.Model):
    """A need brought to a group, with the amounts and quantity adjusted for the group."""

    __tablename__ = "group_need"

    id: Mapped[int] = id_column()
    group_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("purchase_group.id", ondelete="CASCADE"), index=True)
    need_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("need.id"), index=True)
    organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"))
    included: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # confirmed by the member's buyer
    annual_amount: Mapped[Decimal] = mapped_column(Money)
    quantity: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))

    group: Mapped[PurchaseGroup] = relationship(back_populates="group_needs")
    need: Mapped[Need] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("group_id", "need_id", name="uq_group_need_group_need"),
        sa.CheckConstraint("annual_amount > 0", name="annual_amount_positive"),
    )

    @property
    def total_amount(self) -> Decimal:
        return total_of(self.need, self.annual_amount)


class Lot(db.Model):
    __tablename__ = "lot"

    id: Mapped[int] = id_column()
    group_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("purchase_group.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[str] = mapped_column(sa.String(200))
    cpv_code: Mapped[str] = mapped_column(sa.ForeignKey("cpv_code.code"))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    delivery_area: Mapped[str] = mapped_column(sa.String(100), default="")
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

    group: Mapped[PurchaseGroup] = relationship(back_populates="lots")
    shares: Mapped[list[LotShare]] = relationship(
        back_populates="lot", cascade="all, delete-orphan", order_by="LotShare.organization_id"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (sa.UniqueConstraint("group_id", "number", name="uq_lot_group_number"),)

    @property
    def annual_amount(self) -> Decimal:
        return sum((share.annual_amount for share in self.shares), Decimal("0.00"))

    @property
    def estimated_amount(self) -> Decimal:
        """The lot's total estimated value, renewals and options included (what the call publishes)."""
        return sum((share.total_amount for share in self.shares), Decimal("0.00"))

    total_amount = estimated_amount


class LotShare(db.Model):
    """A member's part of a lot: quantity and yearly amount."""

    __tablename__ = "lot_share"

    lot_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("lot.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"), primary_key=True)
    quantity: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    annual_amount: Mapped[Decimal] = mapped_column(Money)

    lot: Mapped[Lot] = relationship(back_populates="shares")
    organization: Mapped[Organization] = relationship(lazy="joined")

    __table_args__ = (sa.CheckConstraint("annual_amount >= 0", name="annual_amount_not_negative"),)

    @property
    def total_amount(self) -> Decimal:
        return self.lot.group.total_for(self.organization_id, self.annual_amount, self.lot.cpv_code)


class GroupEvent(db.Model):
    """The activity log of a group: who did what, when, with the values before and after. Append-only."""

    __tablename__ = "group_event"

    id: Mapped[int] = id_column()
    group_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("purchase_group.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(sa.String(254))
    action: Mapped[str] = mapped_column(sa.String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)


@event.listens_for(Session, "before_flush")
def _group_events_are_append_only(session, flush_context, instances):
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, GroupEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise PermissionError("the activity log of a group cannot be changed or deleted")
