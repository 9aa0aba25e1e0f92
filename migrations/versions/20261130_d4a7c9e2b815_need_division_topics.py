"""data versions per CPV division of the needs, and an `organizations` topic

The overlap maps were remembered under the one `needs` token: a single changed need made the next request compute
every division's overlaps again (100,000 needs at full scale). Every write to a need now also gives a new token to
the topic of its CPV division, `needs_<2 digits>` (of its code before and after an UPDATE), so the overlaps,
possible overlaps and impact figures of the other divisions stay remembered (app/overlaps/services.py). They also
depend on the organizations' codes and central-government flags: the new `organizations` topic changes on every
write to an organization. The `needs` topic and its triggers stay as they are for everything else.

A token is seeded for every division of the CPV reference (a need's code is one of its codes); a division without
one (data_version emptied by hand) is computed on every request until a write to one of its needs gives it one.
On PostgreSQL the tokens change as the writing transaction commits (deferred triggers, as in migration
a9d3e5f7c210), once per topic and transaction; a TRUNCATE of the needs gives every division a new token.

Revision ID: d4a7c9e2b815
Revises: 0b4e6c2d9a71
Create Date: 2026-11-30 06:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd4a7c9e2b815'
down_revision = '0b4e6c2d9a71'
branch_labels = None
depends_on = None

DIVISION_PREFIX = 'needs_'  # as app.freshness.DIVISION_TOPIC, frozen here
SQLITE_EVENTS = ('insert', 'update', 'delete')


def _sqlite_upsert(topic_sql):
    return (
        f"INSERT INTO data_version (topic, token) VALUES ({topic_sql}, lower(hex(randomblob(16)))) "
        "ON CONFLICT (topic) DO UPDATE SET token = excluded.token;"
    )


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _upgrade_postgresql()
        return
    op.execute(
        f"INSERT INTO data_version (topic, token) SELECT '{DIVISION_PREFIX}' || division, lower(hex(randomblob(16))) "
        "FROM (SELECT DISTINCT substr(code, 1, 2) AS division FROM cpv_code) "
        "UNION ALL SELECT 'organizations', lower(hex(randomblob(16)))"
    )
    old = _sqlite_upsert(f"'{DIVISION_PREFIX}' || substr(OLD.cpv_code, 1, 2)")
    new = _sqlite_upsert(f"'{DIVISION_PREFIX}' || substr(NEW.cpv_code, 1, 2)")
    bodies = {'insert': new, 'update': f"{old} {new}", 'delete': old}
    organizations = _sqlite_upsert("'organizations'")
    for event in SQLITE_EVENTS:
        op.execute(f"CREATE TRIGGER data_version_need_division_{event} AFTER {event.upper()} ON need BEGIN {bodies[event]} END")
        op.execute(
            f"CREATE TRIGGER data_version_organization_own_{event} AFTER {event.upper()} ON organization "
            f"BEGIN {organizations} END"
        )


def _upgrade_postgresql():
    op.execute(
        f"INSERT INTO data_version (topic, token) SELECT '{DIVISION_PREFIX}' || division, gen_random_uuid()::text "
        "FROM (SELECT DISTINCT substr(code, 1, 2) AS division FROM cpv_code) AS divisions "
        "UNION ALL SELECT 'organizations', gen_random_uuid()::text"
    )
    op.execute(
        f"""
        CREATE FUNCTION data_version_touch_need_division_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            codes text[] := ARRAY[]::text[];
            code text;
            topic text;
        BEGIN
            IF TG_OP <> 'INSERT' THEN codes := codes || OLD.cpv_code::text; END IF;
            IF TG_OP <> 'DELETE' THEN codes := codes || NEW.cpv_code::text; END IF;
            FOREACH code IN ARRAY codes LOOP
                topic := '{DIVISION_PREFIX}' || substr(code, 1, 2);
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
    op.execute(
        f"""
        CREATE FUNCTION data_version_touch_need_divisions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE data_version SET token = gen_random_uuid()::text WHERE starts_with(topic, '{DIVISION_PREFIX}');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER data_version_need_division AFTER INSERT OR UPDATE OR DELETE ON need "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION data_version_touch_need_division_at_commit()"
    )
    op.execute(
        "CREATE TRIGGER data_version_need_division_truncate AFTER TRUNCATE ON need "
        "FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch_need_divisions()"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER data_version_organization_own AFTER INSERT OR UPDATE OR DELETE ON organization "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION data_version_touch_at_commit('organizations')"
    )
    op.execute(
        "CREATE TRIGGER data_version_organization_own_truncate AFTER TRUNCATE ON organization "
        "FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('organizations')"
    )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS data_version_organization_own_truncate ON organization")
        op.execute("DROP TRIGGER IF EXISTS data_version_organization_own ON organization")
        op.execute("DROP TRIGGER IF EXISTS data_version_need_division_truncate ON need")
        op.execute("DROP TRIGGER IF EXISTS data_version_need_division ON need")
        op.execute("DROP FUNCTION IF EXISTS data_version_touch_need_divisions()")
        op.execute("DROP FUNCTION IF EXISTS data_version_touch_need_division_at_commit()")
    else:
        for event in SQLITE_EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS data_version_need_division_{event}")
            op.execute(f"DROP TRIGGER IF EXISTS data_version_organization_own_{event}")
    op.execute(f"DELETE FROM data_version WHERE topic = 'organizations' OR topic LIKE '{DIVISION_PREFIX}%'")
