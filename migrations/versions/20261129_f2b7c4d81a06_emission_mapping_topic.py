"""data versions: the CPV division → emission category mapping is part of the spend topic

The impact figures of the overlap map and API (carbon estimate, local share, savings) are remembered under the
`needs` and `spend` tokens; they also read the mapping an administrator edits, so a write to `emission_mapping`
gives `spend` a new token too (same triggers as migration e5a1c7f9b2d4).

Revision ID: f2b7c4d81a06
Revises: e6a1c93b7f24
Create Date: 2026-11-29 23:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f2b7c4d81a06'
down_revision = 'e6a1c93b7f24'
branch_labels = None
depends_on = None

TABLE = 'emission_mapping'
SQLITE_EVENTS = ('insert', 'update', 'delete')


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            f"CREATE TRIGGER data_version_{TABLE} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('spend')"
        )
        return
    for event in SQLITE_EVENTS:
        op.execute(
            f"CREATE TRIGGER data_version_{TABLE}_{event} AFTER {event.upper()} ON {TABLE} BEGIN "
            "INSERT INTO data_version (topic, token) VALUES ('spend', lower(hex(randomblob(16)))) "
            "ON CONFLICT (topic) DO UPDATE SET token = excluded.token; END"
        )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"DROP TRIGGER IF EXISTS data_version_{TABLE} ON {TABLE}")
        return
    for event in SQLITE_EVENTS:
        op.execute(f"DROP TRIGGER IF EXISTS data_version_{TABLE}_{event}")
