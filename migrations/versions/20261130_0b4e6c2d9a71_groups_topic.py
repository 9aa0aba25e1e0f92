"""data versions: a `groups` topic for what the group and call pages remember (their impact figures)

The impact of a group (the needs it counts, their estimate and the members' past spend in its category) is computed
with pandas on each group and call page; it is now remembered under the `groups`, `needs` and `spend` tokens. The
`groups` token changes on every INSERT, UPDATE or DELETE of a group, a membership or a group's need (the rows that
decide which needs a group counts and with which amounts), with the triggers of migrations e5a1c7f9b2d4 (SQLite) and
a9d3e5f7c210 (PostgreSQL: as the writing transaction commits).

Revision ID: 0b4e6c2d9a71
Revises: c8e4f1a2b736
Create Date: 2026-11-30 03:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0b4e6c2d9a71'
down_revision = 'c8e4f1a2b736'
branch_labels = None
depends_on = None

TOPIC = 'groups'
TABLES = ('purchase_group', 'membership', 'group_need')  # as app.freshness.TOPICS['groups'], frozen here
SQLITE_EVENTS = ('insert', 'update', 'delete')


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"INSERT INTO data_version (topic, token) VALUES ('{TOPIC}', gen_random_uuid()::text)")
        for table in TABLES:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER data_version_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION data_version_touch_at_commit('{TOPIC}')"
            )
            op.execute(
                f"CREATE TRIGGER data_version_{table}_truncate AFTER TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('{TOPIC}')"
            )
        return
    op.execute(f"INSERT INTO data_version (topic, token) VALUES ('{TOPIC}', lower(hex(randomblob(16))))")
    for table in TABLES:
        for event in SQLITE_EVENTS:
            op.execute(
                f"CREATE TRIGGER data_version_{table}_{event} AFTER {event.upper()} ON {table} BEGIN "
                f"INSERT INTO data_version (topic, token) VALUES ('{TOPIC}', lower(hex(randomblob(16)))) "
                "ON CONFLICT (topic) DO UPDATE SET token = excluded.token; END"
            )


def downgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table in TABLES:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS data_version_{table}_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS data_version_{table} ON {table}")
        else:
            for event in SQLITE_EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS data_version_{table}_{event}")
    op.execute(f"DELETE FROM data_version WHERE topic = '{TOPIC}'")
