from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class CpvCode(db.Model):
    """One code of the CPV 2008 main vocabulary, with folded labels for accent-insensitive search."""

    __tablename__ = "cpv_code"

    code: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    check_digit: Mapped[str] = mapped_column(sa.String(1))
    level: Mapped[str] = mapped_column(sa.String(12), index=True)
    label_fr: Mapped[str] = mapped_column(sa.Text)
    label_en: Mapped[str] = mapped_column(sa.Text)
    search_fr: Mapped[str] = mapped_column(sa.Text)
    search_en: Mapped[str] = mapped_column(sa.Text)

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_fr

    @property
    def full_code(self) -> str:
        return f"{self.code}-{self.check_digit}"
