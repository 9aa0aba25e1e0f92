"""Domain errors: one vocabulary for services, mapped once to HTML and to the API envelope."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "domain_error"

    def __init__(self, message: str = "", *, code: str | None = None, details: dict | None = None):
        super().__init__(message or self.__class__.__name__)
        self.message = message
        if code:
            self.code = code
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


class Unprocessable(DomainError):
    """A well-formed request that cannot be processed as sent (an Idempotency-Key already used for another request)."""

    status = 422
    code = "unprocessable"

    def __init__(self, code: str, message: str = "", details: dict | None = None):
        super().__init__(message, code=code, details=details)


class Conflict(DomainError):
    status = 409
    code = "conflict"

    def __init__(self, code: str, message: str = "", details: dict | None = None):
        super().__init__(message, code=code, details=details)
