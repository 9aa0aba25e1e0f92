"""spend lines: their organization checked against their import's, one index fewer to write per line

A spend line's organization is its import's. Two foreign keys checked it loosely (the line's import exists, the
line's organization exists) and each cost a look-up per written line; one composite key (import_id,
organization_id) -> spend_import (id, organization_id) checks more (the line belongs to its import's organization)
at the cost of one.

The (organization_id, cpv_code) index served the drill-down by organization only: a CPV prefix is matched with LIKE,
which neither database reads from that index, and the unique (organization_id, fingerprint, occurrence) index gives
the same organization range. Dropping it leaves one index fewer to write for each imported line.

Revision ID: b8e2d4f6a913
Revises: f3b7d2a9c614
Create Date: 2026-11-30 02:45:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b8e2d4f6a913'
down_revision = 'f3b7d2a9c614'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('spend_import', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_spend_import_id_organization', ['id', 'organization_id'])
    with op.batch_alter_table('spend_line', schema=None) as batch_op:
        batch_op.drop_index('ix_spend_line_organization_cpv')
        batch_op.drop_constraint('fk_spend_line_organization_id_organization', type_='foreignkey')
        batch_op.drop_constraint('fk_spend_line_import_id_spend_import', type_='foreignkey')
        batch_op.create_foreign_key(
            'fk_spend_line_import_id_spend_import',
            'spend_import',
            ['import_id', 'organization_id'],
            ['id', 'organization_id'],
            ondelete='CASCADE',
        )


def downgrade():
    with op.batch_alter_table('spend_line', schema=None) as batch_op:
        batch_op.drop_constraint('fk_spend_line_import_id_spend_import', type_='foreignkey')
        batch_op.create_foreign_key(
            'fk_spend_line_import_id_spend_import', 'spend_import', ['import_id'], ['id'], ondelete='CASCADE'
        )
        batch_op.create_foreign_key(
            'fk_spend_line_organization_id_organization', 'organization', ['organization_id'], ['id']
        )
        batch_op.create_index('ix_spend_line_organization_cpv', ['organization_id', 'cpv_code'], unique=False)
    with op.batch_alter_table('spend_import', schema=None) as batch_op:
        batch_op.drop_constraint('uq_spend_import_id_organization', type_='unique')
