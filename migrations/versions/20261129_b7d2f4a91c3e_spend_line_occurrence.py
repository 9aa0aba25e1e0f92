"""spend lines: de-duplicated by a unique index on (organization, fingerprint, occurrence)

An import used to look up every fingerprint of a file among the organization's lines before writing, so each file
took longer than the last. A line now carries its occurrence (0 for the first line of a file with a fingerprint,
1 for its twin in the same file, ...) and the database refuses a line already imported through a unique index
(INSERT ... ON CONFLICT DO NOTHING). Existing lines are numbered in the order they were written.

Revision ID: b7d2f4a91c3e
Revises: b7d2e4a91c53
Create Date: 2026-11-29 15:40:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7d2f4a91c3e'
down_revision = 'b7d2e4a91c53'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('spend_line') as batch_op:
        batch_op.add_column(sa.Column('occurrence', sa.Integer(), server_default='0', nullable=False))
    # Twins already imported (the same line twice in one file) are numbered by their ids, which only order them.
    op.execute(
        "UPDATE spend_line SET occurrence = (SELECT count(*) FROM spend_line AS twin "
        "WHERE twin.organization_id = spend_line.organization_id AND twin.fingerprint = spend_line.fingerprint "
        "AND twin.id < spend_line.id)"
    )
    with op.batch_alter_table('spend_line') as batch_op:
        batch_op.drop_index('ix_spend_line_organization_fingerprint')
        batch_op.create_index(
            'uq_spend_line_organization_fingerprint_occurrence',
            ['organization_id', 'fingerprint', 'occurrence'],
            unique=True,
        )


def downgrade():
    with op.batch_alter_table('spend_line') as batch_op:
        batch_op.drop_index('uq_spend_line_organization_fingerprint_occurrence')
        batch_op.create_index('ix_spend_line_organization_fingerprint', ['organization_id', 'fingerprint'], unique=False)
        batch_op.drop_column('occurrence')
