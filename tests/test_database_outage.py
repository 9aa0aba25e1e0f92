"""The database unavailable while the app runs (PostgreSQL database missing, connection or table access revoked;
SQLite file out of reach): 503 service_unavailable with Retry-After — the JSON envelope on the API, a page without
a stack trace elsewhere — /health still answers and reports it, /ready answers 503, and the same app serves again as
soon as the database is back, without a restart."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app.extensions import db
from tests import factories
from tests.conftest import api_token, login, make_app
from tests.databases import fresh_database_url

ON_POSTGRESQL = bool(os.environ.get("TEST_DATABASE_URL"))
OUTAGES = ["missing", "connect_revoked", "tables_revoked"] if ON_POSTGRESQL else ["unreadable_file"]


def _admin(url: str) -> sa.Engine:
    """The suite's own PostgreSQL login, on the maintenance database, outside any transaction."""
    return _owner(sa.make_url(url).set(database="postgres"))


def _owner(url) -> sa.Engine:
    """The suite's own login on `url`; no pool, so that no connection of it is among those an outage ends."""
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _terminate(connection, name: str) -> None:
    connection.exec_driver_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )


@contextmanager
def _app_role(url: str):
    """A login role of its own with every right on the tables, so that its access can be taken away."""
    role, password = f"mutualis_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    owner = _owner(url)
    with owner.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {role}")
        connection.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        yield role, sa.make_url(url).set(username=role, password=password).render_as_string(hide_password=False)
    finally:
        with owner.connect() as connection:
            connection.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
            connection.exec_driver_sql(f"REVOKE ALL ON SCHEMA public FROM {role}")
            _terminate(connection, sa.make_url(url).database)
        owner.dispose()
        with _admin(url).connect() as connection:
            connection.exec_driver_sql(f"REVOKE ALL ON DATABASE {sa.make_url(url).database} FROM {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")


@contextmanager
def _outage(kind: str, url: str, role: str | None, app):
    """The database made unavailable to the running app for the block, then given back."""
    name = sa.make_url(url).database
    if kind == "unreadable_file":
        folder = Path(name).parent
        away = folder.with_name(folder.name + "-away")
        folder.rename(away)
        with app.app_context():
            db.engine.dispose()  # the open file handles go, as they would with a restarted worker
        try:
            yield
        finally:
            away.rename(folder)
        return
    admin = _admin(url)
    with admin.connect() as connection:
        if kind == "missing":
            _terminate(connection, name)
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"')
        elif kind == "connect_revoked":
            connection.exec_driver_sql(f'REVOKE CONNECT ON DATABASE "{name}" FROM PUBLIC, {role}')
            _terminate(connection, name)
    if kind == "tables_revoked":
        owner = _owner(url)
        with owner.connect() as connection:
            connection.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        owner.dispose()
    try:
        yield
    finally:
        with admin.connect() as connection:
            if kind == "missing":
                connection.exec_driver_sql(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"')
            elif kind == "connect_revoked":
                connection.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{name}" TO PUBLIC, {role}')
        if kind == "tables_revoked":
            owner = _owner(url)
            with owner.connect() as connection:
                connection.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
            owner.dispose()
        admin.dispose()


@contextmanager
def _served(tmp_path: Path):
    """A migrated database of its own with a buyer, and an app serving it (through its own role on PostgreSQL)."""
    folder = tmp_path / "data"
    folder.mkdir()
    with fresh_database_url(folder, "outage") as url:
        migrator = make_app(SQLALCHEMY_DATABASE_URI=url)
        with migrator.app_context():
            upgrade()
            factories.user("buyer", email="anne@chu.example.fr", organization_=factories.organization("CHU"))
            db.session.commit()
            db.engine.dispose()
        if not ON_POSTGRESQL:
            yield url, None, make_app(SQLALCHEMY_DATABASE_URI=url)
            return
        with _app_role(url) as (role, role_url):
            app = make_app(SQLALCHEMY_DATABASE_URI=role_url)
            try:
                yield url, role, app
            finally:
                with app.app_context():
                    db.engine.dispose()


def _serves(client, page_client, bearer) -> None:
    assert client.get("/ready").status_code == 200
    assert client.get("/health").get_json() == {"status": "ok", "database": "ok"}
    assert client.get("/api/v1/needs", headers=bearer).status_code == 200
    assert page_client.get("/needs").status_code == 200


@pytest.mark.parametrize("kind", OUTAGES)
def test_an_unavailable_database_answers_503_and_the_app_recovers_without_restart(tmp_path, kind):
    with _served(tmp_path) as (url, role, app):
        client, page_client = app.test_client(), app.test_client()
        bearer = api_token(client, "anne@chu.example.fr")
        assert login(page_client, "anne@chu.example.fr").status_code == 302
        _serves(client, page_client, bearer)

        with _outage(kind, url, role, app):
            for _ in range(2):  # and again: nothing is left half-broken by the first failure
                health = client.get("/health")
                assert health.status_code == 200
                assert health.get_json() == {"status": "ok", "database": "unavailable"}
                ready = client.get("/ready")
                assert ready.status_code == 503 and ready.headers["Retry-After"] == "30"

                api = client.get("/api/v1/needs", headers=bearer)
                assert api.status_code == 503, api.get_data(as_text=True)
                assert api.headers["Retry-After"] == "30"
                assert api.get_json()["error"]["code"] == "service_unavailable"
                write = client.post("/api/v1/needs", json={"title": "x"}, headers=bearer)
                assert write.status_code == 503

                page = page_client.get("/needs")
                assert page.status_code == 503 and page.headers["Retry-After"] == "30"
                text = page.get_data(as_text=True)
                assert "Service temporairement indisponible" in text
                assert "Traceback" not in text and "sqlalchemy" not in text.lower()

        _serves(client, page_client, bearer)
