"""The web layer's part of the audit trail: the request's address on the database session (read by
app.audit.services.record), and every 403 answered (a page or the API) recorded as a refused permission, in a
transaction of its own once the request's own work is rolled back."""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

from app.audit.services import ADDRESS_KEY, record_apart
from app.extensions import db


def register(app: Flask) -> None:
    @app.before_request
    def _audit_address():
        db.session.info[ADDRESS_KEY] = (request.remote_addr or "")[:64] or None

    @app.after_request
    def _audit_refusal(response):
        if response.status_code == 403:
            actor = current_user if current_user.is_authenticated else None
            db.session.rollback()
            record_apart(
                db.session,
                actor,
                "permission.refused",
                method=request.method,
                path=request.path[:300],
                endpoint=request.endpoint,
            )
        return response


def record_refusal(error) -> None:
    """After an action's rollback: keep the audit event its refusal carries (a failed login: DomainError.audit)."""
    kind, obj, details = error.audit
    record_apart(db.session, None, kind, obj, **details)
