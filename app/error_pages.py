"""One mapping from errors to responses: the JSON envelope under /api/, error pages elsewhere."""

from __future__ import annotations

import json
import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

from app.errors import DomainError, database_unavailable, from_database

log = logging.getLogger("mutualis.errors")

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}
# Seconds a client should wait before trying again while the database is unavailable.
RETRY_AFTER_SECONDS = 30


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("Authentication is required."),
        403: _("You are not allowed to do this."),
        404: _("This page does not exist, or you may not see it."),
        405: _("This method is not allowed here."),
        413: _("The file or request is too large."),
        415: _("This content type is not supported."),
        429: _("Too many attempts. Please wait a minute and try again."),
        500: _("Something went wrong on our side. The team has been told."),
        503: _("The service is temporarily unavailable. Please try again in a moment."),
    }


def wants_json() -> bool:
    return request.path.startswith("/api/")


def envelope(status: int, code: str, message: str, details: dict | None = None):
    # Messages may be lazy translations: render them now, in the language of this request.
    details = json.loads(json.dumps(details or {}, default=str))
    response = jsonify({"error": {"code": code, "message": str(message), "details": details}})
    response.status_code = status
    return response


def _page(status: int, message: str):
    template = status if status in (400, 403, 404, 409, 429, 500) else 400
    return render_template(f"errors/{template}.html", status=status, message=message), status


def handle_http(error: HTTPException):
    status = error.code or 500
    if wants_json():
        if status == 422 and getattr(error, "data", None):  # argument parsing errors from flask-smorest
            fields: dict = {}
            for location, problems in error.data.get("messages", {}).items():  # {"json": {...}, "query": {...}}
                fields.update(problems if isinstance(problems, dict) else {location: problems})
            return envelope(400, "validation_error", _("The data is not valid."), {"fields": fields})
        code = _CODES.get(status, "error")
        message = _messages().get(status) or error.description
        if isinstance(error, CSRFError):
            code, message = "csrf_failed", _("The CSRF token is missing or invalid.")
        response = envelope(status, code, message)
        if status == 429 and error.get_response().headers.get("Retry-After"):
            response.headers["Retry-After"] = error.get_response().headers["Retry-After"]
        return response
    if isinstance(error, CSRFError):
        return _page(400, _("The form has expired or was not sent from this site. Please try again."))
    message = _messages().get(status, error.description or "")
    return _page(status, message)


def handle_domain(error: DomainError):
    from app.extensions import db

    db.session.rollback()
    if wants_json():
        return envelope(error.status, error.code, str(error.message), error.details)
    if error.status == 401:  # pages: log in first
        from app.extensions import login_manager

        return login_manager.unauthorized()
    return _page(error.status, str(error.message))


def rollback_quietly() -> None:
    from app.extensions import db

    try:
        db.session.rollback()
    except SQLAlchemyError:  # the connection is gone with the database: nothing left to undo
        log.warning("rollback failed", exc_info=True)


def service_unavailable():
    """503 while the database cannot serve: the envelope on the API, a page that needs no database elsewhere (its
    layout shows no account, which would be read from the database)."""
    message = _messages()[503]
    if wants_json():
        response = envelope(503, "service_unavailable", message)
    else:
        # Straight from the template: Flask's context processors would load the account from the database.
        page = current_app.jinja_env.get_template("errors/503.html").render(message=message)
        response = current_app.make_response((page, 503))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def handle_database(error: Exception):
    mapped = from_database(error)
    if mapped is not None:
        log.warning("database refused a value on %s %s: %s", request.method, request.path, error)
        return handle_domain(mapped)
    if not database_unavailable(error):
        return handle_unexpected(error)
    log.error("database unavailable on %s %s: %s", request.method, request.path, error)
    rollback_quietly()
    return service_unavailable()


def handle_unexpected(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    rollback_quietly()
    if wants_json():
        return envelope(500, "internal_error", _messages()[500])
    return _page(500, _messages()[500])


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(DomainError, handle_domain)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(DBAPIError, handle_database)
    app.register_error_handler(PoolTimeout, handle_database)
    app.register_error_handler(Exception, handle_unexpected)
