import gc
import weakref

import pytest
import sqlalchemy as sa

from app import create_app
from config import DEV_SECRET_KEY, Config, ProductionConfig
from tests.conftest import make_app

STRONG_KEY = "0f" * 32


def test_factory_builds_app_with_given_config(app):
    assert app.config["TESTING"] is True
    assert app.template_folder.endswith("templates")
    assert {"accounts", "main", "organizations", "reference"} <= set(app.blueprints)


@pytest.fixture
def production_env(monkeypatch, tmp_path):
    """What production needs besides the secret key, as environment variables."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.sqlite'}")
    monkeypatch.setenv("UPLOAD_FOLDER", str(tmp_path / "files"))
    return monkeypatch


def test_production_accepts_a_random_secret_key_from_the_environment(production_env):
    # Config reads SECRET_KEY when config.py is imported; here it is as if the operator had exported it.
    production_env.setattr(Config, "SECRET_KEY", STRONG_KEY)
    app = create_app(ProductionConfig)
    assert app.config["SECRET_KEY"] == STRONG_KEY


def test_production_refuses_to_start_without_a_real_secret_key(production_env):
    production_env.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app(ProductionConfig)


@pytest.mark.parametrize("key", ["short", DEV_SECRET_KEY, "x" * 31])
def test_production_refuses_a_short_or_development_secret_key(production_env, key):
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app(type("P", (ProductionConfig,), {"SECRET_KEY": key}))


@pytest.mark.parametrize("variable", ["DATABASE_URL", "UPLOAD_FOLDER"])
def test_production_refuses_to_start_without_the_database_or_the_upload_folder(production_env, variable):
    production_env.delenv(variable)
    with pytest.raises(RuntimeError, match=f"{variable} must be set in production"):
        create_app(type("P", (ProductionConfig,), {"SECRET_KEY": STRONG_KEY}))


def test_production_refuses_a_relative_upload_folder(production_env):
    production_env.setenv("UPLOAD_FOLDER", "files")
    with pytest.raises(RuntimeError, match="UPLOAD_FOLDER must be set in production to an absolute path"):
        create_app(type("P", (ProductionConfig,), {"SECRET_KEY": STRONG_KEY}))


def test_production_never_seeds_demo_data(production_env, tmp_path):
    app = create_app(
        type(
            "P",
            (ProductionConfig,),
            {"SECRET_KEY": STRONG_KEY, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}"},
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


def test_compiled_templates_are_kept_in_the_folder_given_or_not_at_all(tmp_path, monkeypatch):
    """TEMPLATE_BYTECODE_CACHE: a folder where a rendered template's compiled code is written (a new worker loads it
    instead of compiling again), or "off" for none."""
    import importlib

    import config
    from config import TestConfig

    app = create_app(type("T", (TestConfig,), {"TEMPLATE_BYTECODE_CACHE": str(tmp_path)}))
    with app.test_request_context():
        app.jinja_env.get_template("errors/404.html")
    assert list(tmp_path.iterdir())  # the compiled template
    monkeypatch.setenv("TEMPLATE_BYTECODE_CACHE", "off")
    try:
        reloaded = importlib.reload(config)
        assert reloaded.Config.TEMPLATE_BYTECODE_CACHE is None
        assert create_app(type("T", (TestConfig,), {"TEMPLATE_BYTECODE_CACHE": None})).jinja_env.bytecode_cache is None
    finally:
        monkeypatch.delenv("TEMPLATE_BYTECODE_CACHE")
        importlib.reload(config)


def test_the_objects_built_with_the_app_are_kept_out_of_later_collections():
    """Building the app makes some 350,000 long-lived objects: the collector does not walk them while they are made,
    nor in any later collection (they are frozen); garbage made afterwards is still collected."""
    walked: list[int] = []

    def record(phase, info):
        if phase == "start":
            walked.append(info["generation"])

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    gc.callbacks.append(record)
    try:
        app = make_app()
    finally:
        gc.callbacks.remove(record)
    assert walked == []
    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen
    assert not any(tracked is app for tracked in gc.get_objects())  # in the permanent generation, not in 0-2

    class Node:
        pass

    cycle = Node()
    cycle.itself = cycle
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert gone() is None


def test_the_collector_runs_again_after_an_app_that_refuses_to_start(production_env):
    production_env.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app(ProductionConfig)
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off_and_the_app_is_not_frozen():
    gc.disable()
    try:
        app = make_app()
        assert not gc.isenabled()
        assert any(tracked is app for tracked in gc.get_objects())  # not frozen: in the generations collected
    finally:
        gc.enable()
