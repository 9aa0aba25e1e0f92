"""data versions per organization of the spend cells

The spend aggregates (cube, pooling, local share, carbon) were remembered under the one `spend` token: an import of
one organization made the next request sum every organization's cells again (247,000 cells at full scale). Every write
to a spend cell now also gives a new token to the topic of its organization, `sp` + the organization id in
hexadecimal (of the cell's organization before and after an UPDATE; 16 characters at most, as data_version.topic
holds), so each organization's sums stay remembered until its own cells change (app/spend/services/cube.py). The
`spend` topic and its triggers stay as they are for everything else.

A token is seeded for every organization; one without (an organization created later, before its first import, or
data_version emptied by hand) is summed on every request until a write to one of its cells gives it one. On
PostgreSQL the tokens change as the writing transaction commits, once per topic and transaction, as in migration
a9d3e5f7c210 (see _upgrade_postgresql); a TRUNCATE of the cells gives every organization a new token.

Revision ID: e7b3a5c1d902
Revises: d4a7c9e2b815
Create Date: 2026-11-30 12:20:00.000000

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "e7b3a5c1d902"
down_revision = "d4a7c9e2b815"
branch_labels = None
depends_on = None

SPEND_PREFIX = "sp"  # as app.freshness.SPEND_TOPIC, frozen here
SQLITE_EVENTS = ("insert", "update", "delete")


def _sqlite_upsert(organization_sql):
    return (
        f"INSERT INTO data_version (topic, token) VALUES (printf('{SPEND_PREFIX}%x', {organization_sql}), "
        "lower(hex(randomblob(16)))) ON CONFLICT (topic) DO UPDATE SET token = excluded.token;"
    )


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    op.execute(
        f"INSERT INTO data_version (topic, token) SELECT printf('{SPEND_PREFIX}%x', id), lower(hex(randomblob(16))) "
        "FROM organization"
    )
    bodies = {
        "insert": _sqlite_upsert("NEW.organization_id"),
        "update": f"{_sqlite_upsert('OLD.organization_id')} {_sqlite_upsert('NEW.organization_id')}",
        "delete": _sqlite_upsert("OLD.organization_id"),
    }
    for event in SQLITE_EVENTS:
        op.execute(
            f"CREATE TRIGGER data_version_spend_organization_{event} AFTER {event.upper()} ON spend_cell "
            f"BEGIN {bodies[event]} END"
        )


def _upgrade_postgresql():
    """A statement trigger notes the organizations a statement wrote cells of (from its transition tables: one pass
    per statement, not a call per row) in a transaction-local setting; the spend topic's deferred row trigger, which
    already runs as the transaction commits, gives them their new tokens there and empties the note. So the token
    rows are locked only for the commit, as the other topics' (an import does not keep a rollback of the same
    organization waiting), at no cost per row beyond reading the note."""
    op.execute(
        f"INSERT INTO data_version (topic, token) SELECT '{SPEND_PREFIX}' || to_hex(id), gen_random_uuid()::text "
        "FROM organization"
    )
    topic = f"'{SPEND_PREFIX}' || to_hex(organization_id)"
    op.execute(
        f"""
        CREATE FUNCTION data_version_note_spend_organizations() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            found text;
        BEGIN
            IF TG_OP = 'INSERT' THEN
                SELECT string_agg(DISTINCT {topic}, ',') INTO found FROM new_cells;
            ELSIF TG_OP = 'DELETE' THEN
                SELECT string_agg(DISTINCT {topic}, ',') INTO found FROM old_cells;
            ELSE
                SELECT string_agg(DISTINCT {topic}, ',') INTO found
                FROM (SELECT organization_id FROM old_cells UNION SELECT organization_id FROM new_cells) AS cells;
            END IF;
            IF found IS NOT NULL THEN
                PERFORM set_config(
                    'mutualis.spend_organizations',
                    concat_ws(',', nullif(current_setting('mutualis.spend_organizations', true), ''), found),
                    true
                );
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION data_version_touch_spend_cells_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            noted text := current_setting('mutualis.spend_organizations', true);
        BEGIN
            IF coalesce(current_setting('mutualis.data_version_spend', true), '') <> 'changed' THEN
                INSERT INTO data_version (topic, token) VALUES ('spend', gen_random_uuid()::text)
                ON CONFLICT ON CONSTRAINT pk_data_version DO UPDATE SET token = excluded.token;
                PERFORM set_config('mutualis.data_version_spend', 'changed', true);
            END IF;
            IF noted <> '' THEN
                INSERT INTO data_version (topic, token)
                SELECT noted_topic, gen_random_uuid()::text
                FROM (SELECT DISTINCT unnest(string_to_array(noted, ',')) AS noted_topic) AS noted_topics
                ORDER BY noted_topic
                ON CONFLICT ON CONSTRAINT pk_data_version DO UPDATE SET token = excluded.token;
                PERFORM set_config('mutualis.spend_organizations', '', true);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for event, tables in STATEMENT_EVENTS.items():
        op.execute(
            f"CREATE TRIGGER data_version_spend_organization_{event.lower()} AFTER {event} ON spend_cell "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION data_version_note_spend_organizations()"
        )
    _spend_cell_trigger("data_version_touch_spend_cells_at_commit()")
    op.execute(
        f"""
        CREATE FUNCTION data_version_touch_spend_organizations() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE data_version SET token = gen_random_uuid()::text WHERE topic ~ '^{SPEND_PREFIX}[0-9a-f]+$';
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER data_version_spend_organization_truncate AFTER TRUNCATE ON spend_cell "
        "FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch_spend_organizations()"
    )


# a statement's transition tables (one trigger per event: PostgreSQL allows them on single-event triggers only)
STATEMENT_EVENTS = {
    "INSERT": "NEW TABLE AS new_cells",
    "UPDATE": "OLD TABLE AS old_cells NEW TABLE AS new_cells",
    "DELETE": "OLD TABLE AS old_cells",
}


def _spend_cell_trigger(function):
    """The spend topic's deferred row trigger on spend_cell (migration a9d3e5f7c210), calling `function`."""
    op.execute("DROP TRIGGER data_version_spend_cell ON spend_cell")
    op.execute(
        "CREATE CONSTRAINT TRIGGER data_version_spend_cell AFTER INSERT OR UPDATE OR DELETE ON spend_cell "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {function}"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS data_version_spend_organization_truncate ON spend_cell")
        for event in STATEMENT_EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS data_version_spend_organization_{event.lower()} ON spend_cell")
        _spend_cell_trigger("data_version_touch_at_commit('spend')")
        op.execute("DROP FUNCTION IF EXISTS data_version_touch_spend_organizations()")
        op.execute("DROP FUNCTION IF EXISTS data_version_touch_spend_cells_at_commit()")
        op.execute("DROP FUNCTION IF EXISTS data_version_note_spend_organizations()")
        op.execute(f"DELETE FROM data_version WHERE topic ~ '^{SPEND_PREFIX}[0-9a-f]+$'")
        return
    for event in SQLITE_EVENTS:
        op.execute(f"DROP TRIGGER IF EXISTS data_version_spend_organization_{event}")
    op.execute(f"DELETE FROM data_version WHERE topic GLOB '{SPEND_PREFIX}[0-9a-f]*' AND topic <> 'spend'")
