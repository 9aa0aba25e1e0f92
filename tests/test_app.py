import pytest
import sqlalchemy as sa

from app import create_app
from config import ProductionConfig


def test_factory_builds_app_with_given_config(app):
    assert app.config["TESTING"] is True
    assert app.template_folder.endswith("templates")
    assert {"accounts", "main", "organizations", "reference"} <= set(app.blueprints)


def test_production_refuses_to_start_without_a_real_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig)


def test_production_refuses_a_short_secret_key(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(type("P", (ProductionConfig,), {"SECRET_KEY": "short"}))


def test_production_never_seeds_demo_data(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.sqlite'}")
    app = create_app(
        type(
            "P",
            (ProductionConfig,),
            {"SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}"},
        )
    )
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "never seeded in production" in result.output


def test_app_does_not_create_tables_at_start_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    from tests.conftest import make_app

    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        from app.extensions import db

        assert sa.inspect(db.engine).get_table_names() == []
        db.engine.dispose()


def test_foreign_keys_are_enforced_on_every_database(app, db):
    from sqlalchemy.exc import IntegrityError

    from app.organizations.models import SupplierTrade

    with pytest.raises(IntegrityError):
        db.session.add(SupplierTrade(company_id=999999, cpv_code="99999999"))
        db.session.flush()
    db.session.rollback()


def test_sqlite_connections_use_wal_and_a_busy_timeout(app, db):
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        else:
            assert db.engine.dialect.name == "postgresql"
