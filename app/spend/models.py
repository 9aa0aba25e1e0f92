"""Past spend of the member organizations: imports, their lines, a pre-aggregated cube, the carbon mapping."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Id, Money, UTCDateTime, id_column
from app.extensions import db
from app.organizations.models import Organization

IMPORT_FORMATS = ("csv", "xlsx", "decp")


class SpendImport(db.Model):
    """One imported file: who loaded it for which organization, its SHA-256, and whether it was rolled back.

    `active_sha256` repeats `sha256` while the import counts and is emptied when it is rolled back: the unique
    constraint on (organization, active_sha256) refuses the same file twice for one organization, also under
    concurrent uploads, and lets a rolled-back file be imported again.
    """

    __tablename__ = "spend_import"

    id: Mapped[int] = id_column()
    organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"), index=True)
    imported_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    format: Mapped[str] = mapped_column(sa.String(8))
    filename: Mapped[str] = mapped_column(sa.String(200))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    active_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    line_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    # DECP open data: records left out (listed in spend_quarantine); lines + skipped + quarantined = records read.
    quarantined_count: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    total_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    first_date: Mapped[date | None] = mapped_column(sa.Date)
    last_date: Mapped[date | None] = mapped_column(sa.Date)
    is_synthetic: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rolled_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rolled_back_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))

    organization: Mapped[Organization] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(f"format IN {IMPORT_FORMATS!r}", name="format"),
        sa.UniqueConstraint("organization_id", "active_sha256", name="uq_spend_import_organization_active_sha256"),
        # The key a block names its import by, with the import's organization (see SpendBlock).
        sa.UniqueConstraint("id", "organization_id", name="uq_spend_import_id_organization"),
    )

    @property
    def is_active(self) -> bool:
        return self.rolled_back_at is None


class SpendBlock(db.Model):
    """A slice of an import's lines, stored columnar (Parquet, see app/spend/blocks.py): one row per slice of the file
    read (at most 50,000 lines), written once and never changed; rolling the import back removes its blocks.
    The lines are read only as sets (an organization's keys, a category's lines for the drill-down); what the pages
    sum comes from the cube (`spend_cell`)."""

    __tablename__ = "spend_block"

    id: Mapped[int] = id_column()
    import_id: Mapped[int] = mapped_column(Id, index=True)
    organization_id: Mapped[int] = mapped_column(Id, index=True)  # its import's: one foreign key checks both
    seq: Mapped[int] = mapped_column(sa.Integer)  # its place in the import: 0, 1, ...
    line_count: Mapped[int] = mapped_column(sa.Integer)
    lines: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # The lines' keys (fingerprint, occurrence) packed, 20 bytes a line (blocks.pack_keys): an import reads its
    # organization's stored keys from here, without reading and decoding the blocks themselves.
    keys: Mapped[bytes] = mapped_column(sa.LargeBinary)

    __table_args__ = (
        sa.CheckConstraint("line_count > 0", name="line_count_positive"),
        sa.ForeignKeyConstraint(
            ["import_id", "organization_id"],
            ["spend_import.id", "spend_import.organization_id"],
            name="fk_spend_block_import_id_spend_import",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("import_id", "seq", name="uq_spend_block_import_seq"),
    )


class SpendQuarantine(db.Model):
    """A DECP record an open-data import left out, with its row in the file, the field at fault and why
    (`problems`: JSON list of {"column", "message", "params"}, English msgids translated when shown), and the
    record's id, buyer and amount as published (the latest amount), to reconcile the import with its file."""

    __tablename__ = "spend_quarantine"

    id: Mapped[int] = id_column()
    import_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("spend_import.id", ondelete="CASCADE"), index=True)
    row: Mapped[int] = mapped_column(sa.Integer)
    field: Mapped[str | None] = mapped_column(sa.String(40))
    problems: Mapped[str] = mapped_column(sa.Text)
    source_ref: Mapped[str] = mapped_column(sa.String(100), default="")
    buyer: Mapped[str] = mapped_column(sa.String(20), default="")
    amount: Mapped[str] = mapped_column(sa.String(40), default="")


class SpendCell(db.Model):
    """The spend cube at its finest grain, written once per import: organization × year × CPV category
    (5 digits) × supplier × supplier postcode, with the amount and the number of lines.

    Every map, share and estimate reads these cells instead of the lines: a million lines become tens of
    thousands of cells, so the pages answer in a fraction of a second on SQLite as on PostgreSQL.
    """

    __tablename__ = "spend_cell"

    id: Mapped[int] = id_column()
    import_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("spend_import.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"), index=True)
    year: Mapped[int] = mapped_column(sa.Integer)
    cpv_prefix: Mapped[str] = mapped_column(sa.String(5))
    supplier_key: Mapped[str] = mapped_column(sa.String(200))  # SIRET, else the upper-cased name, else ""
    supplier_postcode: Mapped[str | None] = mapped_column(sa.String(5))
    supplier_city: Mapped[str | None] = mapped_column(sa.String(120))
    amount: Mapped[Decimal] = mapped_column(Money)
    lines: Mapped[int] = mapped_column(sa.Integer)

    __table_args__ = (sa.Index("ix_spend_cell_year", "year"),)  # the distinct years, read one index step each


class EmissionMapping(db.Model):
    """Which ADEME monetary emission category stands for each CPV division (Mutualis's own judgement)."""

    __tablename__ = "emission_mapping"

    division: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    category_key: Mapped[str | None] = mapped_column(sa.String(80))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))


JOB_STATUSES = ("queued", "running", "done", "failed")


class SpendImportJob(db.Model):
    """A large uploaded spend file imported in the background by the scheduler process.

    The file waits in UPLOAD_FOLDER under `storage_key`; the job row says where the import stands (`status`, and
    `rows_read` of about `rows_estimate` while it runs) and how it ended: the import made, or the problems found
    (`problems`, JSON: row, column, message) with `message`. Only the person who asked, and administrators, see it.
    """

    __tablename__ = "spend_import_job"

    id: Mapped[int] = id_column()
    organization_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("organization.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(sa.String(200))
    format: Mapped[str | None] = mapped_column(sa.String(8))
    storage_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    size: Mapped[int] = mapped_column(sa.Integer)
    rows_estimate: Mapped[int] = mapped_column(sa.Integer, default=0)
    rows_read: Mapped[int] = mapped_column(sa.Integer, default=0)
    status: Mapped[str] = mapped_column(sa.String(10), default="queued", index=True)
    import_id: Mapped[int | None] = mapped_column(Id, sa.ForeignKey("spend_import.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(sa.Text, default="")
    problems: Mapped[str] = mapped_column(sa.Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship(lazy="joined")
    spend_import: Mapped[SpendImport | None] = relationship()

    __table_args__ = (sa.CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status"),)

    def percent(self, rows_read: int) -> int:
        if self.status == "done":
            return 100
        if not self.rows_estimate:
            return 0
        return min(99, int(100 * rows_read / self.rows_estimate))
