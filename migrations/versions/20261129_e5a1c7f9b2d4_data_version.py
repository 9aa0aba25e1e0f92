"""data versions: a token per topic (needs, spend) that database triggers change on every write to its tables

The overlap and spend maps remember their answers under these tokens (app/freshness.py): any INSERT, UPDATE or
DELETE on a table a topic reads gives the topic a new random token in the same transaction, whatever wrote it (the
ORM, a Core bulk insert of an import, plain SQL), so a remembered answer is never used once its data has changed.

Revision ID: e5a1c7f9b2d4
Revises: 7d41a9c2e805
Create Date: 2026-11-29 19:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e5a1c7f9b2d4'
down_revision = '7d41a9c2e805'
branch_labels = None
depends_on = None

# table -> the topics its writes change (as app.freshness.TOPICS, frozen here)
TABLE_TOPICS = {
    'need': ('needs',),
    'organization': ('needs', 'spend'),
    'spend_cell': ('spend',),
    'supplier_company': ('spend',),
}
SQLITE_EVENTS = ('insert', 'update', 'delete')


def _sqlite_upsert(topic):
    return (
        f"INSERT INTO data_version (topic, token) VALUES ('{topic}', lower(hex(randomblob(16)))) "  # noqa: S608 - a topic of TABLE_TOPICS
        "ON CONFLICT (topic) DO UPDATE SET token = excluded.token;"
    )


def upgrade():
    op.create_table(
        'data_version',
        sa.Column('topic', sa.String(length=16), nullable=False),
        sa.Column('token', sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint('topic', name=op.f('pk_data_version')),
    )
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute(
            "INSERT INTO data_version (topic, token) VALUES "
            "('needs', gen_random_uuid()::text), ('spend', gen_random_uuid()::text)"
        )
        # One statement-level trigger per table: a bulk insert of 20,000 cells changes the token once.
        op.execute(
            """
            CREATE FUNCTION data_version_touch() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO data_version (topic, token)
                SELECT topic, gen_random_uuid()::text FROM unnest(TG_ARGV) AS topic
                ON CONFLICT (topic) DO UPDATE SET token = excluded.token;
                RETURN NULL;
            END $$
            """
        )
        for table, topics in TABLE_TOPICS.items():
            arguments = ', '.join(f"'{topic}'" for topic in topics)
            op.execute(
                f"CREATE TRIGGER data_version_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch({arguments})"
            )
    else:
        op.execute(
            "INSERT INTO data_version (topic, token) VALUES "
            "('needs', lower(hex(randomblob(16)))), ('spend', lower(hex(randomblob(16))))"
        )
        # SQLite has row-level triggers only.
        for table, topics in TABLE_TOPICS.items():
            body = ' '.join(_sqlite_upsert(topic) for topic in topics)
            for event in SQLITE_EVENTS:
                op.execute(
                    f"CREATE TRIGGER data_version_{table}_{event} AFTER {event.upper()} ON {table} "
                    f"BEGIN {body} END"
                )


def downgrade():
    dialect = op.get_bind().dialect.name
    for table in TABLE_TOPICS:
        if dialect == 'postgresql':
            op.execute(f"DROP TRIGGER IF EXISTS data_version_{table} ON {table}")
        else:
            for event in SQLITE_EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS data_version_{table}_{event}")
    if dialect == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS data_version_touch()")
    op.drop_table('data_version')
