"""The migrations build the whole schema from empty, match the models, and go back down."""

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.db import include_object
from app.extensions import db
from app.spend import blocks
from tests.conftest import make_app
from tests.databases import fresh_database_url


@pytest.fixture
def empty_database_url(tmp_path):
    with fresh_database_url(tmp_path, "migr") as url:
        yield url


def _collations_differing(connection) -> list[tuple[str, str, str | None, str | None]]:
    """The columns whose collation in the migrated database is not the one their model gives on this database
    (alembic's comparison of types leaves collations out): (table, column, the model's, the database's)."""
    inspector = sa.inspect(connection)
    differing = []
    for table in db.metadata.sorted_tables:
        reflected = {column["name"]: column["type"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            wanted = getattr(column.type.dialect_impl(connection.dialect), "collation", None)
            found = getattr(reflected[column.name], "collation", None)
            if wanted != found:
                differing.append((table.name, column.name, wanted, found))
    return differing


def test_migrations_from_empty_match_the_models_and_downgrade(empty_database_url):
    app = make_app(SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            assert {"user_account", "organization", "supplier_company", "cpv_code", "apscheduler_jobs"} <= tables
            assert connection.execute(sa.text("SELECT count(*) FROM cpv_code")).scalar() == 9454
            topics = set(connection.execute(sa.text("SELECT topic FROM data_version")).scalars())
            divisions = set(connection.execute(sa.text("SELECT DISTINCT substr(code, 1, 2) FROM cpv_code")).scalars())
            assert len(divisions) == 45  # every division of the CPV reference has its needs' token from the start
            assert topics == {"needs", "spend", "groups", "organizations"} | {f"needs_{d}" for d in divisions}
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include_object}),
                db.metadata,
            )
            assert diff == [], f"models and migrations differ: {diff}"
            assert _collations_differing(connection) == []
            if connection.dialect.name == "postgresql":  # already compressed or random: stored as they are
                storage = connection.execute(
                    sa.text(
                        "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = 'spend_block'::regclass "
                        "AND attname IN ('lines', 'keys')"
                    )
                ).all()
                assert sorted(storage) == [("keys", "e"), ("lines", "e")]
        downgrade(revision="base")
        with db.engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_the_spend_lines_move_into_blocks_and_back_without_a_change(empty_database_url):
    """Revision a5c8e1f3b207 moves every stored line into its import's blocks, and its downgrade moves them back."""
    app = make_app(SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade(revision="f1c3a7e9b542")
        line_values = (
            "import_id, organization_id, spend_date, year, cpv_code, amount, supplier_siret, supplier_name, "
            "supplier_postcode, supplier_city, co_contractors, description, source_ref, procedure, duration_months, "
            "fingerprint, occurrence"
        )
        lines = [
            (7, 3, "2025-02-01", 2025, "30192000", "1250.50", "64285249500018", None, "21000", "Dijon", None, "", None,
             None, None, "0123456789abcdef0123456789abcdef", 0),
            (7, 3, "2025-02-01", 2025, "30192000", "1250.50", "64285249500018", None, "21000", "Dijon", None, "", None,
             None, None, "0123456789abcdef0123456789abcdef", 1),
            (7, 3, "2024-12-31", 2024, "45000000", "0.01", None, "Entreprise é", None, None, "12345678901234",
             "Travaux <b>", "2024-1", "Appel d'offres ouvert", 24, "fedcba9876543210fedcba9876543210", 0),
        ]  # fmt: skip
        with db.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO organization (id, code, name, kind, is_central_government, is_demo, created_at) "
                    "VALUES (3, 'DM', 'Dijon', 'other', false, false, '2026-01-01')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO spend_import (id, organization_id, format, filename, sha256, active_sha256, "
                    "line_count, skipped_count, quarantined_count, total_amount, is_synthetic, notes, imported_at) "
                    "VALUES (7, 3, 'csv', 'a.csv', 'x', 'x', 3, 0, 0, 2501.01, false, '[]', '2026-01-01')"
                )
            )
            for number, line in enumerate(lines, start=1):
                marks = ", ".join(f":v{i}" for i in range(len(line)))
                connection.execute(
                    sa.text(f"INSERT INTO spend_line (id, {line_values}) VALUES ({number}, {marks})"),  # noqa: S608
                    {f"v{i}": value for i, value in enumerate(line)},
                )
        select_lines = f"SELECT {line_values} FROM spend_line ORDER BY id"  # noqa: S608
        with db.engine.connect() as connection:
            before = [tuple(row) for row in connection.execute(sa.text(select_lines))]
        upgrade(revision="c2d6f8a0b413")  # the lines into blocks, then each block's keys packed beside it
        with db.engine.connect() as connection:
            assert "spend_line" not in sa.inspect(connection).get_table_names()
            [(seq, count, organization, data, packed)] = connection.execute(
                sa.text("SELECT seq, line_count, organization_id, lines, keys FROM spend_block WHERE import_id = 7")
            ).all()
            assert (seq, count, organization, len(packed)) == (0, 3, 3, 60)
        keys = np.frombuffer(packed, dtype=blocks.PACKED_KEY)
        in_file = blocks.decode(data, ["fingerprint", "occurrence"])
        assert [bytes(key) for key in keys["fingerprint"]] == in_file.column("fingerprint").to_pylist()
        assert keys["occurrence"].tolist() == in_file.column("occurrence").to_pylist() == [0, 1, 0]
        stored = blocks.LineKeys.from_packed([packed])
        wanted = blocks.fingerprints_of(line[15] for line in lines)
        assert stored.contains(wanted, [line[16] for line in lines]).all()
        assert not stored.contains(wanted, [5, 5, 5]).any()
        downgrade(revision="f1c3a7e9b542")
        with db.engine.connect() as connection:
            after = [tuple(row) for row in connection.execute(sa.text(select_lines.replace("ORDER BY id", "")))]
        assert sorted(after, key=repr) == sorted(before, key=repr)
        db.engine.dispose()
