"""spend blocks: their bytes stored as they are, without PostgreSQL's compression

A block's lines are a Parquet file already compressed (zstd) and its packed keys are random bytes: PostgreSQL's own
compression of large values (pglz, tried on every value over 2 kB) finds nothing to gain and costs the time of
trying. Copying the blocks of 1,000,000 lines within spend_block took 850-997 ms with the default storage, 212-218 ms
with EXTERNAL (out of line, uncompressed). SQLite does not compress: nothing to do.

Revision ID: e4f8b1c3d925
Revises: c2d6f8a0b413
Create Date: 2026-12-01 01:30:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "e4f8b1c3d925"
down_revision = "c2d6f8a0b413"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE spend_block ALTER COLUMN lines SET STORAGE EXTERNAL, ALTER COLUMN keys SET STORAGE EXTERNAL"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE spend_block ALTER COLUMN lines SET STORAGE EXTENDED, ALTER COLUMN keys SET STORAGE EXTENDED"
        )
