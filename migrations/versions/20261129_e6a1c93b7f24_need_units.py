"""needs: units written the way the impact estimates read them

Quantities in kWh, MWh, GWh, litres, cubic metres or tonnes are converted for the physical emission factors of energy;
existing needs whose unit was typed another way ('mwh', 'Kwh', 'litres', 'm³', 'tonnes') get the canonical spelling,
the way the needs service now writes it. Other units (a ream, a meal) are left as they are.

Revision ID: e6a1c93b7f24
Revises: 91c51d4b5191
Create Date: 2026-11-29 19:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e6a1c93b7f24'
down_revision = '91c51d4b5191'
branch_labels = None
depends_on = None

CANONICAL = {
    'kWh': ('kwh',),
    'MWh': ('mwh',),
    'GWh': ('gwh',),
    'L': ('l', 'litre', 'litres', 'liter', 'liters'),
    'm3': ('m3', 'm³'),
    't': ('t', 'tonne', 'tonnes'),
    'unit': ('unit', 'unité', 'unite', 'unités'),
}


def upgrade():
    need = sa.table('need', sa.column('unit', sa.String))
    for canonical, spellings in CANONICAL.items():
        op.execute(
            need.update()
            .where(sa.func.lower(sa.func.trim(need.c.unit)).in_(spellings), need.c.unit != canonical)
            .values(unit=canonical)
        )


def downgrade():
    # The canonical spelling names the same unit: nothing to undo.
    pass
