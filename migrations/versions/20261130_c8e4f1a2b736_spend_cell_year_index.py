"""spend: an index on the cells' year

The category map and the pooling list spread the savings over the years of spend in scope: without an index the
database reads every cell to find the few distinct years (12 ms at 100,000 cells); with it, it steps from one year to
the next in the index.

Revision ID: c8e4f1a2b736
Revises: b8e2d4f6a913
Create Date: 2026-11-30 03:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c8e4f1a2b736'
down_revision = 'b8e2d4f6a913'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_spend_cell_year', 'spend_cell', ['year'])


def downgrade():
    op.drop_index('ix_spend_cell_year', table_name='spend_cell')
