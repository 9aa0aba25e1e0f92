"""Production as README "Deploying" runs it: the package `pip install .` builds, configured by environment variables
only, migrated with `flask db upgrade`, served by gunicorn, with its scheduler process."""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from config import DEV_SECRET_KEY
from tests.conftest import login, make_app
from tests.databases import fresh_database_url

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# What a source checkout holds besides the package sources; none of it goes into the built package.
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "instance", "tests", "benchmarks", "__pycache__", ".*_cache", "*.mo"
)
START_TIMEOUT = 90  # seconds; generous, a loaded machine starts Python slowly


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel `pip install .` builds from a clean copy of the sources (no compiled catalog), unpacked: the
    directory a deployment's site-packages would hold."""
    source = tmp_path_factory.mktemp("source") / "mutualis"
    shutil.copytree(ROOT, source, ignore=NOT_SHIPPED)
    wheels = tmp_path_factory.mktemp("wheels")
    build = subprocess.run(  # noqa: S603 - fixed arguments
        [BIN / "python", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, source],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    site = tmp_path_factory.mktemp("site-packages")
    with zipfile.ZipFile(next(wheels.glob("mutualis-*.whl"))) as wheel:
        wheel.extractall(site)
    return site


@pytest.fixture
def database_url(tmp_path):
    """A fresh, empty database of the kind the suite runs on."""
    with fresh_database_url(tmp_path, "production") as url:
        yield url


@pytest.fixture
def deployment(installed, database_url, tmp_path) -> dict:
    """The variables of README "Deploying" (mail aside), and nothing else but PATH and, as PYTHONPATH, the installed
    package's location."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(installed),
        "MUTUALIS_ENV": "production",
        "FLASK_APP": "app:create_app",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url,
        "UPLOAD_FOLDER": str(tmp_path / "files"),
        "TRUSTED_PROXIES": "1",
        # Its client library must load at start; only a POST to /login would reach the server.
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
    }
    return {"env": env, "cwd": workdir, "logs": tmp_path}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(deployment: dict, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - the project's own commands
        [BIN / args[0], *args[1:]],
        env={**deployment["env"], **env},
        cwd=deployment["cwd"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


@contextmanager
def _running(deployment: dict, name: str, *args: str):
    """A long-running process whose output goes to a log file; stopped by SIGTERM (killed if it does not stop)."""
    log_path = deployment["logs"] / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - the project's own commands
            [BIN / args[0], *args[1:]],
            env=deployment["env"],
            cwd=deployment["cwd"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, f"{name} did not stop cleanly:\n{log_path.read_text()}"


def _wait_for(condition, process, log_path: Path):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode}:\n{log_path.read_text()}"
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"not ready after {START_TIMEOUT} s:\n{log_path.read_text()}")


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a loopback http URL
            return response.status, response.headers, response.read().decode()
    except OSError:  # not listening yet, or no worker ready to answer
        return None


def test_the_built_package_carries_templates_migrations_data_and_the_compiled_catalog(installed):
    package = installed / "app"
    assert (installed / "config.py").is_file()
    assert (package / "templates" / "base.html").is_file()
    assert (package / "templates" / "accounts" / "login.html").is_file()
    assert (package / "migrations" / "env.py").is_file() and (package / "migrations" / "alembic.ini").is_file()
    shipped = {path.name for path in (package / "migrations" / "versions").glob("*.py")}
    assert shipped == {path.name for path in (ROOT / "migrations" / "versions").glob("*.py")}
    assert (package / "data" / "cpv_2008.csv").is_file()
    assert (package / "translations" / "fr" / "LC_MESSAGES" / "messages.mo").is_file()
    assert any((package / "static").rglob("*.css"))


def test_production_starts_from_environment_variables_only(deployment, installed, database_url):
    """The README's commands: migrate, then gunicorn with its settings (app.serving) and two workers, and the scheduler;
    /login answers in French."""
    where = _run(deployment, "python", "-c", "import app, config; print(app.__file__); print(config.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(Path(line).is_relative_to(installed) for line in where.stdout.split()), where.stdout

    upgrade = _run(deployment, "flask", "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM cpv_code")).scalar() > 9000
            assert connection.execute(sa.text("SELECT count(*) FROM user_account")).scalar() == 0
    finally:
        engine.dispose()

    port = _free_port()
    gunicorn = ("gunicorn", "-c", "python:app.serving", "-w", "2", "-b", f"127.0.0.1:{port}", "app:create_app()")
    with (
        _running(deployment, "gunicorn", *gunicorn) as (web, web_log),
        _running(deployment, "scheduler", "flask", "scheduler") as (scheduler, scheduler_log),
    ):
        status, headers, page = _wait_for(lambda: _get(f"http://127.0.0.1:{port}/login"), web, web_log)
        _wait_for(lambda: "scheduler started" in scheduler_log.read_text(), scheduler, scheduler_log)
    assert status == 200
    assert "<title>Se connecter · Mutualis</title>" in page  # French, from the catalog compiled at build time
    assert '<form method="post"' in page
    for field in ('name="csrf_token"', 'name="email"', 'name="password"'):
        assert field in page
    cookie = headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert headers["Strict-Transport-Security"] == "max-age=31536000"  # a year of HTTPS only, remembered by browsers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    served = web_log.read_text()
    assert "Booting worker" in served
    assert "Garbage collection tuned" in served  # app.serving's hook ran (in each worker that was up)
    assert "scheduler stopped" in scheduler_log.read_text()


@pytest.mark.parametrize("secret_key", [None, DEV_SECRET_KEY], ids=["missing", "dev"])
def test_gunicorn_refuses_to_start_without_a_real_secret_key(deployment, secret_key):
    env = deployment["env"]
    if secret_key is None:
        del env["SECRET_KEY"]
    else:
        env["SECRET_KEY"] = secret_key
    port = _free_port()
    result = _run(deployment, "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "app:create_app()")
    assert result.returncode != 0
    assert "SECRET_KEY must be set to a random value of at least 32 characters in production" in result.stderr


@pytest.mark.parametrize("variable", ["DATABASE_URL", "UPLOAD_FOLDER"])
def test_migrating_refuses_without_the_database_or_the_upload_folder(deployment, variable):
    del deployment["env"][variable]
    result = _run(deployment, "flask", "db", "upgrade")
    assert result.returncode != 0
    assert f"{variable} must be set in production" in result.stderr


def _failed_logins(client, address: str, count: int) -> list[int]:
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return [login(client, "nobody@example.fr", f"wrong-{i}").status_code for i in range(count)]


def test_behind_a_trusted_proxy_each_client_has_its_own_login_rate_limit(app):
    web = make_app(TRUSTED_PROXIES=1)
    assert _failed_logins(web.test_client(), "203.0.113.7", 6) == [401] * 5 + [429]
    assert _failed_logins(web.test_client(), "203.0.113.8", 1) == [401]


def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(app):
    web = make_app()
    assert _failed_logins(web.test_client(), "203.0.113.7", 6) == [401] * 5 + [429]
    assert _failed_logins(web.test_client(), "203.0.113.8", 1) == [429]
