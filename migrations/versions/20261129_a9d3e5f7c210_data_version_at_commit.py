"""data versions on PostgreSQL: a topic's token changes when the writing transaction commits, not at its first write

The statement triggers of migration e5a1c7f9b2d4 changed the token row at once, so a transaction writing needs or spend
held that row's lock until it ended: a long spend import kept every other writer of the topic waiting (a supplier
registering, an organization renamed, another import). The token now changes in deferred constraint triggers, which
run as the transaction commits: the row is locked only for the commit. A transaction-local setting makes the first row
of each topic change the token and the others return at once. TRUNCATE (no row triggers) keeps its statement trigger.
SQLite locks the whole database for a write anyway: its triggers stay as they are.

Revision ID: a9d3e5f7c210
Revises: f2b7c4d81a06
Create Date: 2026-11-29 23:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a9d3e5f7c210'
down_revision = 'f2b7c4d81a06'
branch_labels = None
depends_on = None

# table -> the topics its writes change (as app.freshness.TOPICS, frozen here)
TABLE_TOPICS = {
    'need': ('needs',),
    'organization': ('needs', 'spend'),
    'spend_cell': ('spend',),
    'supplier_company': ('spend',),
    'emission_mapping': ('spend',),
}


def _arguments(topics):
    return ', '.join(f"'{topic}'" for topic in topics)


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        """
        CREATE FUNCTION data_version_touch_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            topic text;
        BEGIN
            FOREACH topic IN ARRAY TG_ARGV LOOP
                IF coalesce(current_setting('mutualis.data_version_' || topic, true), '') <> 'changed' THEN
                    INSERT INTO data_version (topic, token) VALUES (topic, gen_random_uuid()::text)
                    ON CONFLICT ON CONSTRAINT pk_data_version DO UPDATE SET token = excluded.token;
                    PERFORM set_config('mutualis.data_version_' || topic, 'changed', true);
                END IF;
            END LOOP;
            RETURN NULL;
        END $$
        """
    )
    for table, topics in TABLE_TOPICS.items():
        op.execute(f"DROP TRIGGER data_version_{table} ON {table}")
        op.execute(
            f"CREATE CONSTRAINT TRIGGER data_version_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION data_version_touch_at_commit({_arguments(topics)})"
        )
        op.execute(
            f"CREATE TRIGGER data_version_{table}_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch({_arguments(topics)})"
        )


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, topics in TABLE_TOPICS.items():
        op.execute(f"DROP TRIGGER data_version_{table}_truncate ON {table}")
        op.execute(f"DROP TRIGGER data_version_{table} ON {table}")
        op.execute(
            f"CREATE TRIGGER data_version_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch({_arguments(topics)})"
        )
    op.execute("DROP FUNCTION data_version_touch_at_commit()")
