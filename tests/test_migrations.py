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
        downgrade(revision="base")
        with db.engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
