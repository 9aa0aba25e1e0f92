from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.clock import utcnow
from app.db import CENT, Id, Money, UTCDateTime, id_column
from app.extensions import db
from app.groups.models import Lot, PurchaseGroup
from app.organizations.models import Organization, SupplierCompany

CALL_STATUSES = ("draft", "published", "closed", "evaluated", "awarded", "cancelled", "unsuccessful")
BID_STATUSES = ("active", "replaced", "withdrawn")
CRITERIA = ("price", "technical", "environmental", "delivery", "social")


class Call(db.Model):
    """A pooled call for tenders (consultation) of a constituted group."""

    __tablename__ = "call"

    id: Mapped[int] = id_column()
    group_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("purchase_group.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    questions_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    bid_deadline: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="draft")
    created_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Days between the award and the first day a contract may be signed (None: 11 for formal procedures).
    standstill_days: Mapped[int | None] = mapped_column(sa.Integer)
    contract_kind: Mapped[str] = mapped_column(sa.String(10), default="contract", server_default="contract")
    bid_reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    questions_reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    # The seal (app.calls.sealing): the call's public key, made at publication (or at the first bid of a call
    # published before sealing existed); its private key either split among the opening committee
    # (opening_quorum set) or kept under the server's master key (server_wrapped_key). opened_at: the opening.
    opening_quorum: Mapped[int | None] = mapped_column(sa.SmallInteger)
    public_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    server_wrapped_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary(100))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    group: Mapped[PurchaseGroup] = relationship(lazy="joined")
    lots: Mapped[list[CallLot]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="CallLot.number"
    )
    # Ids are random: criteria come in their usual order, documents and questions in the order they came.
    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="call",
        cascade="all, delete-orphan",
        order_by=lambda: sa.case({name: rank for rank, name in enumerate(CRITERIA)}, value=Criterion.name),
    )
    documents: Mapped[list[CallDocument]] = relationship(
        back_populates="call",
        cascade="all, delete-orphan",
        order_by=lambda: [CallDocument.uploaded_at, CallDocument.filename],
    )
    questions: Mapped[list[Question]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by=lambda: [Question.asked_at, Question.text]
    )
    committee: Mapped[list[CommitteeMember]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="CommitteeMember.position"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.CheckConstraint(f"status IN {CALL_STATUSES!r}", name="status"),
        sa.CheckConstraint("questions_deadline <= bid_deadline", name="questions_before_bids"),
        sa.CheckConstraint("standstill_days BETWEEN 0 AND 365", name="standstill_days_range"),
        sa.CheckConstraint("contract_kind IN ('contract', 'framework')", name="contract_kind"),
        sa.CheckConstraint("opening_quorum IS NULL OR opening_quorum BETWEEN 1 AND 3", name="opening_quorum"),
    )

    def is_open_for_bids(self, now: datetime) -> bool:
        """The rule itself: published and before the deadline by the server clock, whatever the scheduler did."""
        return self.status == "published" and now < self.bid_deadline

    def deadline_passed(self, now: datetime) -> bool:
        return now >= self.bid_deadline


class CallLot(db.Model):
    __tablename__ = "call_lot"

    id: Mapped[int] = id_column()
    call_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    group_lot_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("lot.id", ondelete="SET NULL"))
    number: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[str] = mapped_column(sa.String(200))
    cpv_code: Mapped[str] = mapped_column(sa.ForeignKey("cpv_code.code"), index=True)
    estimated_amount: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(12), default="open")

    call: Mapped[Call] = relationship(back_populates="lots")
    group_lot: Mapped[Lot | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("call_id", "number", name="uq_call_lot_call_number"),
        sa.CheckConstraint("estimated_amount > 0", name="estimated_amount_positive"),
        sa.CheckConstraint("status IN ('open', 'awarded', 'unsuccessful')", name="status"),
    )

    @property
    def total_amount(self) -> Decimal:
        """The lot's total estimated value (renewals and options included): what the call publishes."""
        return self.estimated_amount

    @property
    def annual_amount(self) -> Decimal | None:
        """The yearly amount behind the total: the group lot's, or the total scaled by the group's ratio yearly /
        total (None when the group counts no need)."""
        if self.group_lot is not None:
            return self.group_lot.annual_amount
        rows = self.call.group.counted_needs()
        total = sum((gn.total_amount for gn in rows), Decimal("0.00"))
        if not total:
            return None
        yearly = sum((gn.annual_amount for gn in rows), Decimal("0.00"))
        return (self.estimated_amount * yearly / total).quantize(CENT, ROUND_HALF_UP)


class Criterion(db.Model):
    __tablename__ = "criterion"

    id: Mapped[int] = id_column()
    call_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(20))
    weight: Mapped[int] = mapped_column(sa.Integer)

    call: Mapped[Call] = relationship(back_populates="criteria")

    __table_args__ = (
        sa.UniqueConstraint("call_id", "name", name="uq_criterion_call_name"),
        sa.CheckConstraint("weight BETWEEN 1 AND 100", name="weight_range"),
    )


class CallDocument(db.Model):
    """A consultation document, stored outside the static folder and served as a download."""

    __tablename__ = "call_document"

    id: Mapped[int] = id_column()
    call_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    call: Mapped[Call] = relationship(back_populates="documents")


class Question(db.Model):
    """A supplier's question; the answer is published to every supplier without the asker's identity."""

    __tablename__ = "question"

    id: Mapped[int] = id_column()
    call_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("supplier_company.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))

    call: Mapped[Call] = relationship(back_populates="questions")


class Bid(db.Model):
    """A sealed offer of one supplier for one lot. Before the deadline only its bidder may see anything of it."""

    __tablename__ = "bid"

    # BIGINT on SQLite too: the bid tables were created so, before every other id became random.
    id: Mapped[int] = id_column(sa.BigInteger)
    call_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("call.id"), index=True)
    lot_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("call_lot.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("supplier_company.id"), index=True)
    submitted_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    # amount, notes, distance and receipt_content are empty until the opening: the content as submitted is in
    # sealed_content, encrypted to the call's public key (app.calls.sealing), and is written here at the opening.
    amount: Mapped[Decimal | None] = mapped_column(Money)
    sealed_content: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    technical_note: Mapped[str] = mapped_column(sa.Text, default="")
    environmental_note: Mapped[str] = mapped_column(sa.Text, default="")
    delivery_distance_km: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 1))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(10), default="active")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt_sha256: Mapped[str] = mapped_column(sa.String(64))
    receipt_content: Mapped[str | None] = mapped_column(sa.Text)  # the exact text hashed (see amount)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200))  # its SHA-256: the key is the client's secret
    request_digest: Mapped[str | None] = mapped_column(sa.String(64))  # HMAC of the request under the key
    abnormally_low: Mapped[bool] = mapped_column(sa.Boolean, default=False)

    lot: Mapped[CallLot] = relationship()
    supplier: Mapped[SupplierCompany] = relationship(lazy="joined")
    scores: Mapped[list[BidScore]] = relationship(back_populates="bid", cascade="all, delete-orphan")
    documents: Mapped[list[BidDocument]] = relationship(
        back_populates="bid", cascade="all, delete-orphan", order_by="BidDocument.position"
    )

    __table_args__ = (
        sa.CheckConstraint(f"status IN {BID_STATUSES!r}", name="status"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        # One active bid per supplier and lot, enforced by the database even under concurrent submissions.
        sa.Index(
            "uq_bid_active_supplier_lot",
            "supplier_id",
            "lot_id",
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        ),
        sa.UniqueConstraint("supplier_id", "idempotency_key", name="uq_bid_supplier_idempotency_key"),
    )


class BidScore(db.Model):
    __tablename__ = "bid_score"

    bid_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("bid.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    score: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    scored_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    bid: Mapped[Bid] = relationship(back_populates="scores")

    __table_args__ = (sa.CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),)


class Award(db.Model):
    __tablename__ = "award"

    id: Mapped[int] = id_column()
    lot_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("call_lot.id"), unique=True)
    bid_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("bid.id"))
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    awarded_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))

    lot: Mapped[CallLot] = relationship()
    bid: Mapped[Bid] = relationship(lazy="joined")


class Contract(db.Model):
    """One contract record per member organization for an awarded lot, with its share of the awarded value.

    `amount` is the initial value (the share); amendments add `amended_amount`; a framework agreement's orders add
    up in `ordered_amount`, which a conditional update keeps at or under the maximum (`amount + amended_amount`)
    even under concurrent orders. The stored status is standstill, to_sign or signed: running and ended follow from
    the dates (app.domain.contracts.effective_status)."""

    __tablename__ = "contract"

    id: Mapped[int] = id_column()
    award_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("award.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("supplier_company.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    share: Mapped[Decimal] = mapped_column(sa.Numeric(7, 6))
    kind: Mapped[str] = mapped_column(sa.String(10), default="contract", server_default="contract")
    status: Mapped[str] = mapped_column(sa.String(10), default="to_sign", server_default="to_sign")
    starts_on: Mapped[date | None] = mapped_column(sa.Date)
    ends_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    standstill_ends_on: Mapped[date | None] = mapped_column(sa.Date)
    signed_on: Mapped[date | None] = mapped_column(sa.Date)
    signed_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    amended_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    amended_months: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    ordered_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    alerted_pct: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")  # 0, 80 or 100
    ending_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship(lazy="joined")
    supplier: Mapped[SupplierCompany] = relationship(lazy="joined")
    award: Mapped[Award] = relationship()

    __table_args__ = (
        sa.CheckConstraint("kind IN ('contract', 'framework')", name="kind"),
        sa.CheckConstraint("status IN ('standstill', 'to_sign', 'signed')", name="status"),
        sa.CheckConstraint("ordered_amount >= 0", name="ordered_not_negative"),
        sa.CheckConstraint("ordered_amount <= amount + amended_amount", name="ordered_within_ceiling"),
    )

    @property
    def current_amount(self) -> Decimal:
        """The value today: the initial value plus the amendments."""
        return self.amount + (self.amended_amount or Decimal("0.00"))

    @property
    def ceiling(self) -> Decimal | None:
        """A framework agreement's maximum amount (amendments included); None for a contract."""
        return self.current_amount if self.kind == "framework" else None


class Subscription(db.Model):
    """A supplier's wish to hear of future calls under a CPV code or prefix."""

    __tablename__ = "subscription"

    supplier_id: Mapped[int] = mapped_column(
        Id, sa.ForeignKey("supplier_company.id", ondelete="CASCADE"), primary_key=True
    )
    cpv_prefix: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


BID_DOCUMENT_KINDS = ("technical_proposal", "price_schedule", "declaration")


class BidDocument(db.Model):
    """A document of a bid. Its file is sealed to the call's key until the opening; its name, type and hash are in
    the bid's sealed content, written here at the opening."""

    __tablename__ = "bid_document"

    id: Mapped[int] = id_column()
    bid_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("bid.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(sa.SmallInteger)
    kind: Mapped[str] = mapped_column(sa.String(20))
    storage_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    filename: Mapped[str | None] = mapped_column(sa.String(200))
    content_type: Mapped[str | None] = mapped_column(sa.String(100))
    size: Mapped[int | None] = mapped_column(sa.Integer)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))

    bid: Mapped[Bid] = relationship(back_populates="documents")

    __table_args__ = (sa.CheckConstraint(f"kind IN {BID_DOCUMENT_KINDS!r}", name="kind"),)


class CommitteeMember(db.Model):
    """A member of a call's opening committee. Enrolment keeps a key pair whose private half is encrypted under a
    key derived from the member's passphrase (Argon2id); publication seals the member's share of the call's private
    key to it. pending_share: the share given at the opening, under the server key, until the quorum is reached."""

    __tablename__ = "committee_member"

    id: Mapped[int] = id_column()
    call_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("user_account.id"), index=True)
    position: Mapped[int] = mapped_column(sa.SmallInteger)
    public_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    wrapped_private_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary(100))
    kdf_salt: Mapped[bytes | None] = mapped_column(sa.LargeBinary(16))
    kdf_opslimit: Mapped[int | None] = mapped_column(sa.Integer)
    kdf_memlimit: Mapped[int | None] = mapped_column(sa.BigInteger)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    share_index: Mapped[int | None] = mapped_column(sa.SmallInteger)
    sealed_share: Mapped[bytes | None] = mapped_column(sa.LargeBinary(200))
    pending_share: Mapped[bytes | None] = mapped_column(sa.LargeBinary(200))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    call: Mapped[Call] = relationship(back_populates="committee")
    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("call_id", "user_id", name="uq_committee_member_call_user"),
        sa.UniqueConstraint("call_id", "position", name="uq_committee_member_call_position"),
    )


class OpeningRecord(db.Model):
    """The procès-verbal d'ouverture des plis: what was opened, by whom and when, fixed at the opening as a
    canonical JSON text with its SHA-256."""

    __tablename__ = "opening_record"

    id: Mapped[int] = id_column()
    call_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("call.id", ondelete="CASCADE"), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    automatic: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    content: Mapped[str] = mapped_column(sa.Text)
    sha256: Mapped[str] = mapped_column(sa.String(64))
