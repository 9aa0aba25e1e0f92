"""execution mode of a group's contracts, chosen in its convention

The convention says who signs and runs the contracts: the coordinator signs and notifies them for all and each
member runs its own part (the mode every existing group had), each member signs and runs its own contract, or the
coordinator signs and runs them for all.

Revision ID: 7d41a9c2e805
Revises: d3c8a61f5e20
Create Date: 2026-11-29 16:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '7d41a9c2e805'
down_revision = 'd3c8a61f5e20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('purchase_group', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('execution_mode', sa.String(length=24), server_default='coordinator_signs', nullable=False)
        )
        batch_op.create_check_constraint(
            op.f('ck_purchase_group_execution_mode'),
            "execution_mode IN ('coordinator_signs', 'each_member', 'coordinator_for_all')",
        )


def downgrade():
    with op.batch_alter_table('purchase_group', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_purchase_group_execution_mode'), type_='check')
        batch_op.drop_column('execution_mode')
