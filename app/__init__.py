"""Mutualis: pooled public purchasing for Dijon métropole and its partners."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import INSTANCE_DIR, Config, ProductionConfig, config_from_env

PACKAGE_DIR = Path(__file__).resolve().parent


def beside_package(name: str) -> Path:
    """A folder kept at the repository root (templates, migrations): an installed package carries it inside
    (see setup.py), a source checkout has it next to the package."""
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


def create_app(config: type[Config] | dict | None = None) -> Flask:
    with _long_lived_objects():
        return _build_app(config)


@contextmanager
def _long_lived_objects() -> Iterator[None]:
    """Building the app imports most of the code and makes objects that live as long as the process: modules,
    classes, mappers, table metadata, forms, schemas (some 350,000 on CPython). Python's cyclic garbage collector
    would walk them again and again while they are made, then at every full collection afterwards (during requests and
    imports, and once more when a command's process exits): about a second of a command's start-up and as much at its
    exit on a 2-core server. So the collector pauses while the app is built, and what exists once it is built is frozen
    (`gc.freeze`: kept out of every later collection), in every process that builds the app: commands, the scheduler,
    gunicorn's workers (whose `app.serving` hook then freezes what the worker made since and spaces collections out).
    The little garbage the building leaves (some 6,000 objects, once per process) is frozen with it; garbage made later
    is collected as usual. A caller that had disabled the collector finds it as it left it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _build_app(config: type[Config] | dict | None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(beside_package("templates")),
        instance_path=str(INSTANCE_DIR),
    )
    base = config if isinstance(config, type) else config_from_env()
    app.config.from_object(base)
    if isinstance(config, dict):
        app.config.update(config)
    if issubclass(base, ProductionConfig):
        ProductionConfig.check(app.config)
    else:
        # Development and tests keep their SQLite file and uploads there; production names its own places.
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.json.ensure_ascii = False  # French text stays readable in JSON (UTF-8)
    app.config.setdefault("UPLOAD_FOLDER", os.environ.get("UPLOAD_FOLDER", str(Path(app.instance_path) / "files")))
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    _configure_logging(app)
    register_extensions(app)
    register_request_checks(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    register_security_headers(app)
    register_audit_hooks(app)
    return app


def _configure_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def register_extensions(app: Flask) -> None:
    from app import effects, i18n, transactions  # noqa: F401 - effects: side effects run after the session commits
    from app.accounts import auth
    from app.extensions import babel, bootstrap, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    transactions.register(app)  # after db.init_app: runs before the session is closed
    migrate.init_app(app, db, directory=str(beside_package("migrations")), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=lambda: "Europe/Paris")
    limiter.init_app(app)
    bootstrap.init_app(app)
    auth.init_login(app, login_manager)


def register_request_checks(app: Flask) -> None:
    """Before any route: ids in paths within range (404 otherwise), text a database can store (400 otherwise)."""
    from app import input_guard, routing

    routing.register(app)
    input_guard.register(app)


def register_blueprints(app: Flask) -> None:
    from app.accounts import views as account_views
    from app.api import init_api
    from app.audit import views as audit_views
    from app.calls import views as call_views
    from app.contracts import views as contract_views
    from app.groups import views as group_views
    from app.impact import views as impact_views
    from app.main import views as main_views
    from app.needs import views as need_views
    from app.notifications import views as notification_views
    from app.organizations import views as organization_views
    from app.overlaps import views as overlap_views
    from app.reference import views as reference_views
    from app.spend import views as spend_views

    for module in (
        main_views,
        account_views,
        organization_views,
        reference_views,
        need_views,
        overlap_views,
        group_views,
        notification_views,
        spend_views,
        impact_views,
        call_views,
        contract_views,
        audit_views,
    ):
        app.register_blueprint(module.bp)

    init_api(app)


def register_errorhandlers(app: Flask) -> None:
    from app import error_pages

    error_pages.register(app)


def register_commands(app: Flask) -> None:
    from app import cli

    cli.register(app)


def register_security_headers(app: Flask) -> None:
    from app import security

    security.register(app)


def register_audit_hooks(app: Flask) -> None:
    from app.audit import hooks

    hooks.register(app)


def register_template_helpers(app: Flask) -> None:
    from jinja2 import FileSystemBytecodeCache

    from app import i18n, navigation

    folder = app.config.get("TEMPLATE_BYTECODE_CACHE")
    if folder is not None:
        app.jinja_env.bytecode_cache = FileSystemBytecodeCache(folder or None)
    i18n.register_filters(app)
    navigation.register(app)
