"""Test set-up: two apps and one migrated database per run (SQLite file, or TEST_DATABASE_URL), emptied after each
test.

The apps are built once per session: building one (blueprints, the OpenAPI document) costs far more than most tests.
Each test still starts from an empty database, a fresh app context, the configuration as built, and an empty rate
limiter.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from flask_migrate import upgrade

from app import create_app
from app.extensions import db as _db
from app.extensions import limiter
from config import TestConfig
from tests.factories import CALLS_NOW

_TMP = Path(tempfile.mkdtemp(prefix="mutualis-tests-"))
DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.sqlite'}"
KEEP_TABLES = {"cpv_code", "alembic_version"}


class _Config(TestConfig):
    SQLALCHEMY_DATABASE_URI = DATABASE_URL
    UPLOAD_FOLDER = str(_TMP / "files")


_APPS: list = []


def make_app(**overrides):
    """An app of its own, for a test that needs another configuration; its engines are closed after the test."""
    app = create_app(type("Cfg", (_Config,), overrides) if overrides else _Config)
    _APPS.append(app)
    return app


def _dispose(app) -> None:
    with app.app_context():
        for engine in _db.engines.values():
            engine.dispose()


@pytest.fixture(autouse=True)
def _dispose_engines():
    """Close every pooled connection of the apps a test made (no connection outlives its test)."""
    yield
    while _APPS:
        _dispose(_APPS.pop())


class _Built:
    """An app built once per session, with what a test may change on it put back after each test."""

    def __init__(self, app):
        self.app = app
        self._config = dict(self.app.config)
        self._extensions = dict(self.app.extensions)

    @contextmanager
    def for_a_test(self):
        try:
            yield self.app
        finally:
            self.app.config.clear()
            self.app.config.update(self._config)
            self.app.extensions.clear()
            self.app.extensions.update(self._extensions)


@pytest.fixture(scope="session")
def _apps():
    """The test's app and the app that serves requests, both on the migrated database."""
    built = _Built(create_app(_Config)), _Built(create_app(_Config))
    with built[0].app.app_context():
        upgrade()
        _db.engine.dispose()
    limiter_state = dict(vars(limiter))
    yield built, limiter_state
    for each in built:
        _dispose(each.app)


@pytest.fixture
def app(_apps):
    """The app, in an app context of the test's own (its `g` and database session start empty)."""
    (test_app, _), limiter_state = _apps
    # An app built since (by an earlier test) re-bound the shared limiter to its own storage: bind it back, empty.
    vars(limiter).update(limiter_state)
    limiter.reset()
    with test_app.for_a_test() as app, app.app_context():
        yield app
        _db.session.remove()
        _empty_tables()


def _empty_tables():
    with _db.engine.begin() as connection:
        for table in reversed(_db.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                connection.execute(table.delete())
        if sa.inspect(connection).has_table("apscheduler_jobs"):
            connection.execute(sa.text("DELETE FROM apscheduler_jobs"))


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def session(app):
    return _db.session


@pytest.fixture
def web_app(app, _apps):
    """A second app on the same database that serves the test client.

    Requests then run in their own app context, as in production: nothing cached in `g` (the logged-in user,
    the locale) or in the test's database session leaks from the test into a request or from one request into the
    next.
    """
    (_, web), _ = _apps
    with web.for_a_test() as web_app:
        yield web_app


@pytest.fixture
def client(web_app):
    return web_app.test_client()


@pytest.fixture
def new_client(web_app):
    return web_app.test_client


@pytest.fixture
def clock():
    """The clock frozen at CALLS_NOW, for the call tests; `clock.move_to(...)` moves it."""
    with time_machine.travel(CALLS_NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def query_counter(app):
    """Counts SQL statements sent while the block runs: `with query_counter() as count: ...; count.value`.

    It listens on every engine, so it also counts what the `client` fixture's requests send through `web_app`.
    The answers the maps remember (app.freshness) are forgotten first, so that the count is that of a request
    computing them, the most it sends; `query_counter(remembered=True)` keeps them (a request answered from them).
    """
    from contextlib import contextmanager

    from app import freshness

    class Count:
        value = 0

        def __init__(self):
            self.statements = []  # the SQL sent, in order

    @contextmanager
    def counting(remembered: bool = False):
        if not remembered:
            freshness.forget_all()
        count = Count()

        def before(conn, cursor, statement, parameters, context, executemany):
            count.value += 1
            count.statements.append(statement)

        sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
        try:
            yield count
        finally:
            sa.event.remove(sa.engine.Engine, "before_cursor_execute", before)

    return counting


@pytest.fixture
def mailbox(web_app):
    """A real SMTP server receiving what the app serving the client mails (tests.mailbox.Mailbox)."""
    from tests.mailbox import Mailbox, start

    box = Mailbox()
    controller = start(box)
    web_app.config.update(box.settings())
    try:
        yield box
    finally:
        controller.stop()


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf-token" content="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def login(client, email: str, password: str = "correct-horse-battery"):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def english(client, email: str | None = None):
    """Switch the client to the English interface, then log in as `email` (if given) and check that it worked."""
    client.get("/lang/en")
    if email:
        assert login(client, email).status_code == 302
    return client


def post_form(client, url: str, data: dict, **kwargs):
    """GET the page for its CSRF token, then POST the form."""
    token = csrf_from(client.get(kwargs.pop("page", url)).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def change_password(client, new: str, current: str = "correct-horse-battery"):
    """Post the password change form of a logged-in client."""
    return post_form(client, "/account/password", {"current_password": current, "new_password": new, "confirm": new})


def api_token(client, email: str, password: str = "correct-horse-battery") -> dict:
    response = client.post("/api/v1/tokens", json={"email": email, "password": password})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}
