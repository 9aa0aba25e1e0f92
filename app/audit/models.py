from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Id, UTCDateTime, id_column
from app.extensions import db


class AuditEvent(db.Model):
    """One security-relevant event. Rows are only ever appended (app.audit.services.record): `position` orders the
    chain, `previous_hash` is the entry_hash of the entry before, `entry_hash` the SHA-256 of this entry's content
    and previous_hash (app.audit.chain). `position` is internal: it counts everyone's activity, so only
    administrators ever see it."""

    __tablename__ = "audit_event"

    id: Mapped[int] = id_column()
    position: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(Id, index=True)  # no foreign key: the trail outlives what it names
    organization_id: Mapped[int | None] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(sa.String(40), index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(40))
    object_id: Mapped[int | None] = mapped_column(Id)
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    address: Mapped[str | None] = mapped_column(sa.String(64))
    previous_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64))
