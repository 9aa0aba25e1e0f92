"""random ids: no table keeps a sequence; ids and references to them become BIGINT on PostgreSQL

A sequence shared by all users is a counter of their activity: the gap between two of a supplier's own
notifications counted the bids placed in between. The application now draws every id at random (app/db.py); the
database keeps no default for it. SQLite needs no change: its INTEGER is already 64 bits and takes the value given.

Existing rows keep their ids. Going back down restores the sequences, and fails if a table already holds an id
beyond the INTEGER range.

Revision ID: 9c3e51d07a42
Revises: 4481998f0123
Create Date: 2026-11-29 12:55:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '9c3e51d07a42'
down_revision = '4481998f0123'
branch_labels = None
depends_on = None

# Tables whose INTEGER id came from a sequence (the bids' ids were already random BIGINTs).
TABLES = (
    'organization', 'supplier_company', 'user_account', 'api_token', 'invitation', 'need', 'notification',
    'purchase_group', 'spend_import', 'call', 'group_event', 'group_need', 'lot', 'membership', 'spend_cell',
    'spend_line', 'call_document', 'call_lot', 'criterion', 'question', 'award', 'contract',
)
# Every column that refers to one of those ids.
REFERENCES = (
    ('subscription', 'supplier_id'), ('supplier_trade', 'company_id'), ('user_account', 'organization_id'),
    ('user_account', 'supplier_id'), ('api_token', 'user_id'), ('emission_mapping', 'updated_by_id'),
    ('invitation', 'organization_id'), ('invitation', 'invited_by_id'), ('need', 'organization_id'),
    ('need', 'created_by_id'), ('notification', 'user_id'), ('purchase_group', 'created_by_id'),
    ('purchase_group', 'coordinator_organization_id'), ('spend_import', 'rolled_back_by_id'),
    ('spend_import', 'imported_by_id'), ('spend_import', 'organization_id'), ('call', 'group_id'),
    ('call', 'created_by_id'), ('group_event', 'group_id'), ('group_event', 'actor_id'), ('group_need', 'need_id'),
    ('group_need', 'group_id'), ('group_need', 'organization_id'), ('lot', 'group_id'), ('membership', 'group_id'),
    ('membership', 'signed_by_id'), ('membership', 'organization_id'), ('spend_cell', 'import_id'),
    ('spend_cell', 'organization_id'), ('spend_line', 'organization_id'), ('spend_line', 'import_id'),
    ('call_document', 'call_id'), ('call_lot', 'call_id'), ('call_lot', 'group_lot_id'), ('criterion', 'call_id'),
    ('lot_share', 'lot_id'), ('lot_share', 'organization_id'), ('question', 'call_id'), ('question', 'supplier_id'),
    ('question', 'answered_by_id'), ('bid', 'submitted_by_id'), ('bid', 'call_id'), ('bid', 'lot_id'),
    ('bid', 'supplier_id'), ('award', 'lot_id'), ('award', 'awarded_by_id'), ('bid_score', 'scored_by_id'),
    ('contract', 'organization_id'), ('contract', 'award_id'), ('contract', 'supplier_id'),
)


def _columns_by_table():
    columns = {table: ['id'] for table in TABLES}
    for table, column in REFERENCES:
        columns.setdefault(table, []).append(column)
    return columns


def _alter(columns, type_name):
    for table, names in columns.items():
        changes = ', '.join(f'ALTER COLUMN "{name}" TYPE {type_name}' for name in names)
        op.execute(f'ALTER TABLE "{table}" {changes}')


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN id DROP DEFAULT')
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN id DROP IDENTITY IF EXISTS')
        op.execute(f'DROP SEQUENCE IF EXISTS "{table}_id_seq"')
    _alter(_columns_by_table(), 'BIGINT')


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    _alter(_columns_by_table(), 'INTEGER')
    for table in TABLES:
        op.execute(f'CREATE SEQUENCE "{table}_id_seq" OWNED BY "{table}".id')
        op.execute(f'SELECT setval(\'"{table}_id_seq"\', COALESCE(MAX(id), 0) + 1, false) FROM "{table}"')
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN id SET DEFAULT nextval(\'"{table}_id_seq"\')')
