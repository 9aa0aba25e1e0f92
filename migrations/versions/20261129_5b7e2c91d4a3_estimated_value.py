"""estimated value of a need: renewals, options and the stored total (R2121-1)

Needs gain a renewal count, a renewal period and an options amount, and store their total estimated value
(`total_amount_eur` = annual × (duration + renewals × renewal period) / 12 + options) so that SQL aggregates can sum
it. Existing needs have no renewal and no option: their total is annual × duration / 12, to the cent.

Revision ID: 5b7e2c91d4a3
Revises: b7d2f4a91c3e
Create Date: 2026-11-29 15:40:00.000000

"""
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '5b7e2c91d4a3'
down_revision = 'b7d2f4a91c3e'
branch_labels = None
depends_on = None

MONEY = sa.Numeric(14, 2, asdecimal=True)


def upgrade():
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renewal_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('renewal_months', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('options_amount', MONEY, server_default='0', nullable=False))
        batch_op.add_column(sa.Column('total_amount_eur', MONEY, nullable=True))
    need = sa.table(
        'need', sa.column('id', sa.BigInteger()), sa.column('annual_amount', MONEY),
        sa.column('duration_months', sa.Integer()), sa.column('total_amount_eur', MONEY),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(need.c.id, need.c.annual_amount, need.c.duration_months)).all()
    for need_id, annual, months in rows:
        total = (Decimal(annual) * months / 12).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)
        connection.execute(need.update().where(need.c.id == need_id).values(total_amount_eur=total))
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.alter_column('total_amount_eur', existing_type=MONEY, nullable=False)
        batch_op.create_check_constraint(op.f('ck_need_renewal_count_range'), 'renewal_count BETWEEN 0 AND 10')
        batch_op.create_check_constraint(
            op.f('ck_need_renewal_months_range'), 'renewal_months IS NULL OR renewal_months BETWEEN 1 AND 120'
        )
        batch_op.create_check_constraint(op.f('ck_need_options_amount_not_negative'), 'options_amount >= 0')


def downgrade():
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_need_options_amount_not_negative'), type_='check')
        batch_op.drop_constraint(op.f('ck_need_renewal_months_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_need_renewal_count_range'), type_='check')
        batch_op.drop_column('total_amount_eur')
        batch_op.drop_column('options_amount')
        batch_op.drop_column('renewal_months')
        batch_op.drop_column('renewal_count')
