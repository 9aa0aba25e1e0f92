from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Id, UTCDateTime, id_column
from app.extensions import db

ORGANIZATION_KINDS = ("hospital", "university", "social_housing", "local_authority", "other")


class Organization(db.Model):
    """A public buyer taking part in pooled purchasing."""

    __tablename__ = "organization"

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    siret: Mapped[str | None] = mapped_column(sa.String(14), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    postcode: Mapped[str | None] = mapped_column(sa.String(5))
    # Central government authorities have lower European thresholds for supplies and services.
    is_central_government: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    is_demo: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint(f"kind IN {ORGANIZATION_KINDS!r}", name="kind"),)

    @property
    def buyer_class(self) -> str:
        return "central" if self.is_central_government else "other"


class SupplierCompany(db.Model):
    """A supplier company that registered to hear of pooled calls."""

    __tablename__ = "supplier_company"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(sa.String(200))
    siret: Mapped[str] = mapped_column(sa.String(14), unique=True)
    postcode: Mapped[str] = mapped_column(sa.String(5))
    city: Mapped[str | None] = mapped_column(sa.String(120))
    is_sme: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    is_demo: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    trades: Mapped[list[SupplierTrade]] = relationship(
        back_populates="company", cascade="all, delete-orphan", order_by="SupplierTrade.cpv_code"
    )

    @property
    def departement(self) -> str:
        return self.postcode[:2]


class SupplierTrade(db.Model):
    """A trade of a supplier, as a CPV code (any level)."""

    __tablename__ = "supplier_trade"

    company_id: Mapped[int] = mapped_column(
        Id, sa.ForeignKey("supplier_company.id", ondelete="CASCADE"), primary_key=True
    )
    cpv_code: Mapped[str] = mapped_column(sa.ForeignKey("cpv_code.code"), primary_key=True)

    company: Mapped[SupplierCompany] = relationship(back_populates="trades")
    cpv: Mapped["CpvCode"] = relationship(lazy="joined")  # noqa: F821, UP037


from app.reference.models import CpvCode  # noqa: E402,F401  (resolves the relationship target)
