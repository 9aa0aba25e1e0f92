"""Domain errors: one vocabulary for services, mapped once to HTML and to the API envelope.

The status policy is the error's class, the same for pages and the API: invalid input (ValidationFailed) → 400,
wrong credentials → 401, not permitted → 403, not visible or unknown → 404, conflicts → 409 with their own code
(a few codes have a status of their own: `CODE_STATUS`). Pages answer a refused form with that status too, and
re-render the form with the errors on its fields. Database-level conflicts become domain errors in
`from_database`, the one place that knows about them.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError

# Codes whose status is not their class's: a reused Idempotency-Key with another body cannot be processed (422).
CODE_STATUS = {"idempotency_key_mismatch": 422}


class DomainError(Exception):
    status = 400
    code = "domain_error"
    # (kind, object, details) of an audit event to keep although the action is rolled back (a failed login)
    audit: tuple[str, object, dict] | None = None

    def __init__(self, message: str = "", *, code: str | None = None, details: dict | None = None):
        super().__init__(message or self.__class__.__name__)
        self.message = message
        if code:
            self.code = code
        if self.code in CODE_STATUS:
            self.status = CODE_STATUS[self.code]
        self.details = details or {}


class ValidationFailed(DomainError):
    """Per-field reasons: {"field": ["message", ...]}; for imports, rows: [{"row", "column", "message"}]."""

    status = 400
    code = "validation_error"

    def __init__(self, reasons: dict[str, list[str]] | None = None, *, message: str = "", rows=None):
        details: dict = {"fields": reasons or {}}
        if rows is not None:
            details["rows"] = rows
        super().__init__(message or "The data is not valid.", details=details)
        self.reasons = reasons or {}
        self.rows = rows


class InvalidCredentials(DomainError):
    status = 401
    code = "invalid_credentials"


class NotPermitted(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"

    def __init__(self, code: str, message: str = "", details: dict | None = None):
        super().__init__(message, code=code, details=details)


def _unique_violation(error: IntegrityError) -> bool:
    original = error.orig
    if getattr(original, "sqlstate", None) == "23505":  # PostgreSQL: unique_violation
        return True
    return getattr(original, "sqlite_errorname", "") in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


# PostgreSQL SQLSTATEs of a database that refuses this application as a whole (not a request's own mistake):
# insufficient_privilege (access revoked), invalid_catalog_name (database missing), invalid_authorization_specification,
# cannot_connect_now (starting or shutting down), admin_shutdown, crash_shutdown.
UNAVAILABLE_SQLSTATES = frozenset({"42501", "3D000", "28000", "57P03", "57P01", "57P02"})


def database_unavailable(error: BaseException) -> bool:
    """True when `error` says the database cannot serve us right now (down, missing, access revoked, pool
    exhausted, SQLite file unreadable): the answer is then 503 with Retry-After, not a server bug."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or getattr(error.orig, "sqlstate", None) in UNAVAILABLE_SQLSTATES
    return False


# PostgreSQL SQLSTATEs of a value the column cannot hold: too long (22001), a number out of range (22003), a date or
# time out of range or malformed (22008, 22007), a character it cannot store (22021, 22P05). Input checks refuse
# these first, naming the field; this is the net under them.
VALUE_SQLSTATES = frozenset({"22001", "22003", "22007", "22008", "22021", "22P05"})


def from_database(error: Exception) -> DomainError | None:
    """The domain error a database-level conflict stands for, or None for anything else.

    - An UPDATE that found its row at another `version` (StaleDataError: someone else saved first) → 409
      stale_version.
    - A unique constraint broken by a concurrent insert of the same thing → 409 concurrent_change.
    - A value the column cannot hold (too long, out of range) that no input check caught → 400 validation_error.
    """
    if isinstance(error, StaleDataError):
        return Conflict(
            "stale_version",
            str(_l("This was changed by someone else meanwhile. Reload it and make your change again.")),
        )
    if isinstance(error, DataError) and getattr(error.orig, "sqlstate", None) in VALUE_SQLSTATES:
        return ValidationFailed(
            message=str(_l("A value is too long or out of range for what can be stored. Shorten or correct it."))
        )
    if isinstance(error, IntegrityError) and _unique_violation(error):
        return Conflict(
            "concurrent_change",
            str(_l("The same change was being made at the same time by another request. Reload and try again.")),
        )
    return None
