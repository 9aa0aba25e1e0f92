"""spend lines: the fingerprint compared byte by byte on PostgreSQL (collation "C")

A line's fingerprint is 32 hexadecimal digits. Under the database's default collation every comparison in the
unique index on (organization, fingerprint, occurrence) goes through the locale's rules, which a digest has no use
for. Measured at full scale: a bare INSERT ... SELECT of 100,000 lines into 1.1 million took 2.19-2.23 s with the
default collation (C.UTF-8), 2.10-2.19 s with ICU's French one and 1.90-1.91 s with "C"; within an import of 100,000
lines, the two INSERT statements took 1.98-2.10 s before and 1.85-1.92 s after (on a table 200,000 lines larger).
The column takes collation "C"; PostgreSQL rebuilds the unique index (4 s for 1.5 million lines). De-duplication is
unchanged: equal digests are equal under any collation. SQLite already compares text byte by byte: nothing to do.

Revision ID: f1c3a7e9b542
Revises: e7b3a5c1d902
Create Date: 2026-11-30 21:00:00.000000

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "f1c3a7e9b542"
down_revision = "e7b3a5c1d902"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE spend_line ALTER COLUMN fingerprint TYPE VARCHAR(32) COLLATE "C"')


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE spend_line ALTER COLUMN fingerprint TYPE VARCHAR(32) COLLATE \"default\"")
