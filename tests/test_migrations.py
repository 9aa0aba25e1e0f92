"""The migrations build the whole schema from empty, match the models, and go back down."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.db import include_object
from app.extensions import db
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
        downgrade(revision="base")
        with db.engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
