"""Configuration read from environment variables, one class per environment."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
# The key development runs with when SECRET_KEY is not set; production refuses it.
DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105 - a known placeholder, refused in production
MIN_SECRET_KEY_LENGTH = 32


def _instance_dir() -> Path:
    """Where development keeps its SQLite file and uploads: beside the code in a source checkout, under the
    environment's prefix for an installed package (as Flask does)."""
    if (BASE_DIR / "pyproject.toml").is_file():
        return BASE_DIR / "instance"
    return Path(sys.prefix) / "var" / "mutualis-instance"


INSTANCE_DIR = _instance_dir()


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _sqlite_default(name: str) -> str:
    return f"sqlite:///{INSTANCE_DIR / name}"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or _sqlite_default("mutualis.sqlite")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    SQLALCHEMY_RECORD_QUERIES = False

    BABEL_DEFAULT_LOCALE = "fr"
    BABEL_DEFAULT_TIMEZONE = "Europe/Paris"
    LANGUAGES = ("fr", "en")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"  # not sent with requests other sites make
    REMEMBER_COOKIE_DURATION = timedelta(days=14)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    WTF_CSRF_TIME_LIMIT = 3600 * 8

    # Strict-Transport-Security max-age in seconds (0: not sent). Production sends it: the site is served over HTTPS.
    HSTS_SECONDS = 0

    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_BYTES", 20 * 1024 * 1024))
    # The server's master key for sealed bids (64 hex characters, e.g. `python3 -c 'import secrets;
    # print(secrets.token_hex(32))'`): it keeps the private key of calls WITHOUT an opening committee, opened
    # automatically after their deadline. Unset, it is derived from SECRET_KEY: then changing SECRET_KEY makes
    # the unopened bids of such calls unreadable, so set it in production and keep it with the database backups.
    # Calls WITH a committee do not depend on it for their secrecy (only their members' passphrases open them).
    BID_SEALING_KEY = os.environ.get("BID_SEALING_KEY", "")
    # Argon2id cost of committee passphrases: moderate (256 MiB), interactive (64 MiB) or minimum (tests only).
    SEALING_KDF = os.environ.get("SEALING_KDF", "moderate")
    # Passphrases tried per committee member (enrolment and opening, pages and API together): each try costs the
    # server an Argon2id derivation (256 MiB), and a member's passphrase is not to be guessed.
    PASSPHRASE_RATE_LIMIT = os.environ.get("PASSPHRASE_RATE_LIMIT", "10 per minute;50 per hour")
    # A spend file larger than this is imported in the background by the scheduler, the page showing its progress.
    SPEND_SYNC_IMPORT_BYTES = int(os.environ.get("SPEND_SYNC_IMPORT_BYTES", 2 * 1024 * 1024))

    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host headers are trusted (0: none). Behind
    # one proxy, 1: otherwise every client has the proxy's address, and shares its login rate limit.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    # Failed logins (page and API tokens together): per account from one address, and per address whatever the account
    # (app/accounts/throttling.py says why there is no limit per account alone).
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "5 per minute;20 per hour")
    LOGIN_ADDRESS_RATE_LIMIT = os.environ.get("LOGIN_ADDRESS_RATE_LIMIT", "20 per minute;100 per hour")
    # Supplier registrations sent (each sends mail), per address and per email address written in the form.
    REGISTRATION_RATE_LIMIT = os.environ.get("REGISTRATION_RATE_LIMIT", "5 per hour")
    REGISTRATION_EMAIL_RATE_LIMIT = os.environ.get("REGISTRATION_EMAIL_RATE_LIMIT", "3 per hour")
    # Failed password changes per account; wrong invitation or registration links and failed forms per address.
    ACCOUNT_FORMS_RATE_LIMIT = os.environ.get("ACCOUNT_FORMS_RATE_LIMIT", "5 per minute;20 per hour")
    REGISTRATION_LINK_HOURS = int(os.environ.get("REGISTRATION_LINK_HOURS", "48"))

    API_TOKEN_HOURS = int(os.environ.get("API_TOKEN_HOURS", "12"))
    INVITATION_DAYS = int(os.environ.get("INVITATION_DAYS", "7"))

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "587"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", True)
    MAIL_SENDER = os.environ.get("MAIL_SENDER", "Mutualis <no-reply@mutualis.local>")

    # The OCID prefix of the OCDS releases: the one the Open Contracting Partnership registers for the publisher
    # ("ocds-" and six characters); the default is a placeholder for development.
    OCDS_OCID_PREFIX = os.environ.get("OCDS_OCID_PREFIX", "ocds-mutualis")

    SCHEDULER_DATABASE_URL = os.environ.get("SCHEDULER_DATABASE_URL", "")
    # Seconds between two runs of the job that closes calls whose deadline passed (also enforced at request time).
    SCHEDULER_CLOSE_CALLS_SECONDS = int(os.environ.get("SCHEDULER_CLOSE_CALLS_SECONDS", "30"))
    # A scheduler in standby (another one holds the lock) tries to take over this often, in seconds; the active one
    # checks its lock as often.
    SCHEDULER_STANDBY_SECONDS = float(os.environ.get("SCHEDULER_STANDBY_SECONDS", "5"))

    BOOTSTRAP_SERVE_LOCAL = True

    # OpenAPI document generated by flask-smorest
    API_TITLE = "Mutualis API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"

    SEED_DEMO_ALLOWED = True

    # Compiled templates kept on disk (Jinja's bytecode cache, checked against each template's source): a new worker
    # loads them instead of compiling its pages on their first request. A directory, or "" for Jinja's own
    # per-user folder in the temporary directory; None (the variable set to "off") to compile in every process.
    TEMPLATE_BYTECODE_CACHE: str | None = os.environ.get("TEMPLATE_BYTECODE_CACHE", "")
    if TEMPLATE_BYTECODE_CACHE.strip().lower() == "off":
        TEMPLATE_BYTECODE_CACHE = None


class DevelopmentConfig(Config):
    DEBUG = False


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"  # noqa: S105 - test only
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or _sqlite_default("test.sqlite")
    WTF_CSRF_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    # Fast hashing keeps the suite quick; production uses the scrypt default.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105 - a hashing method name
    SEALING_KDF = "minimum"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", str(365 * 24 * 3600)))
    SEED_DEMO_ALLOWED = False

    @classmethod
    def check(cls, config: dict) -> None:
        """Refuse to start without the settings production cannot guess: a real secret key, the database, and
        where uploaded documents are kept."""
        secret = config.get("SECRET_KEY") or ""
        if secret == DEV_SECRET_KEY or len(secret) < MIN_SECRET_KEY_LENGTH:
            raise RuntimeError(
                f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_KEY_LENGTH} characters in "
                "production (for example: python3 -c 'import secrets; print(secrets.token_hex(32))')."
            )
        if not os.environ.get("DATABASE_URL"):
            raise RuntimeError(
                "DATABASE_URL must be set in production (for example postgresql+psycopg://user@host/db)."
            )
        folder = os.environ.get("UPLOAD_FOLDER", "")
        if not os.path.isabs(folder):
            raise RuntimeError(
                "UPLOAD_FOLDER must be set in production to an absolute path, kept across releases, where uploaded "
                "documents are stored" + (f" (not {folder!r})." if folder else ".")
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    name = os.environ.get("MUTUALIS_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"MUTUALIS_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from None
