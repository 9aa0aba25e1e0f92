"""spend imports: the quarantine of lenient DECP open-data imports

A DECP file's records with a problem (an unknown CPV code, a zero amount, a missing date, another buyer's record)
are left out of the import and kept here with their row, field and reason; the import counts them so that lines +
skipped + quarantined reconcile with the records of the file.

Revision ID: d3c8a61f5e20
Revises: c4e8a2d6f017
Create Date: 2026-11-29 16:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd3c8a61f5e20'
down_revision = 'c4e8a2d6f017'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('spend_import') as batch_op:
        batch_op.add_column(sa.Column('quarantined_count', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'spend_quarantine',
        sa.Column('id', ID, autoincrement=False, nullable=False),
        sa.Column('import_id', ID, nullable=False),
        sa.Column('row', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=40), nullable=True),
        sa.Column('problems', sa.Text(), nullable=False),
        sa.Column('source_ref', sa.String(length=100), nullable=False),
        sa.Column('buyer', sa.String(length=20), nullable=False),
        sa.Column('amount', sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ['import_id'], ['spend_import.id'], name=op.f('fk_spend_quarantine_import_id_spend_import'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_spend_quarantine')),
    )
    with op.batch_alter_table('spend_quarantine') as batch_op:
        batch_op.create_index(batch_op.f('ix_spend_quarantine_import_id'), ['import_id'], unique=False)


def downgrade():
    with op.batch_alter_table('spend_quarantine') as batch_op:
        batch_op.drop_index(batch_op.f('ix_spend_quarantine_import_id'))
    op.drop_table('spend_quarantine')
    with op.batch_alter_table('spend_import') as batch_op:
        batch_op.drop_column('quarantined_count')
