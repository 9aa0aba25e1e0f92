from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Id, UTCDateTime, id_column
from app.extensions import db


class Notification(db.Model):
    """An in-app message to one user; the text is a msgid with parameters, translated when shown."""

    __tablename__ = "notification"

    id: Mapped[int] = id_column()
    user_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    message: Mapped[str] = mapped_column(sa.Text)
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    link: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_notification_user_unread", "user_id", "read_at"),)
