"""spend import jobs: large uploaded files imported in the background by the scheduler process

Revision ID: c4e8a2d6f017
Revises: 5b7e2c91d4a3
Create Date: 2026-11-29 15:45:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4e8a2d6f017'
down_revision = '5b7e2c91d4a3'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'spend_import_job',
        sa.Column('id', Id, autoincrement=False, nullable=False),
        sa.Column('organization_id', Id, nullable=False),
        sa.Column('requested_by_id', Id, nullable=True),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('format', sa.String(length=8), nullable=True),
        sa.Column('storage_key', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('rows_estimate', sa.Integer(), nullable=False),
        sa.Column('rows_read', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('import_id', Id, nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('problems', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_spend_import_job_status')),
        sa.ForeignKeyConstraint(['import_id'], ['spend_import.id'], name=op.f('fk_spend_import_job_import_id_spend_import'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_spend_import_job_organization_id_organization')),
        sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_spend_import_job_requested_by_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_spend_import_job')),
        sa.UniqueConstraint('storage_key', name=op.f('uq_spend_import_job_storage_key')),
    )
    with op.batch_alter_table('spend_import_job') as batch_op:
        batch_op.create_index(batch_op.f('ix_spend_import_job_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spend_import_job_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('spend_import_job') as batch_op:
        batch_op.drop_index(batch_op.f('ix_spend_import_job_status'))
        batch_op.drop_index(batch_op.f('ix_spend_import_job_organization_id'))
    op.drop_table('spend_import_job')
