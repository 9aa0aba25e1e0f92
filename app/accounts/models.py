from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.clock import utcnow
from app.db import Id, UTCDateTime, id_column
from app.extensions import db
from app.organizations.models import Organization, SupplierCompany

ROLES = ("admin", "coordinator", "buyer", "supplier")
STAFF_ROLES = ("coordinator", "buyer")


def token_digest(token: str) -> str:
    """Tokens are stored as SHA-256 digests only; the clear value is shown once."""
    return hashlib.sha256(token.encode()).hexdigest()


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = id_column()
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(12))
    organization_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("organization.id"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("supplier_company.id"), index=True)
    is_active_account: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    # Bumped at logout, password change and (de)activation: every session and remember cookie issued before is void.
    session_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    is_demo: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization | None] = relationship(lazy="joined")
    supplier: Mapped[SupplierCompany | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(f"role IN {ROLES!r}", name="role"),
        sa.CheckConstraint("role <> 'buyer' OR organization_id IS NOT NULL", name="buyer_has_organization"),
        sa.CheckConstraint("role <> 'supplier' OR supplier_id IS NOT NULL", name="supplier_has_company"),
    )

    def set_password(self, password: str) -> None:
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_active_account

    def get_id(self) -> str:  # Flask-Login: the session names the user and the password generation
        return f"{self.id}:{self.session_version}"

    @property
    def display_name(self) -> str:
        return self.full_name or self.email

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


class Invitation(db.Model):
    """An admin's invitation for a buyer or coordinator to create an account."""

    __tablename__ = "invitation"

    id: Mapped[int] = id_column()
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    role: Mapped[str] = mapped_column(sa.String(12))
    organization_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("organization.id"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization | None] = relationship()
    invited_by: Mapped[User] = relationship()


class ApiToken(db.Model):
    __tablename__ = "api_token"

    id: Mapped[int] = id_column()
    user_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
