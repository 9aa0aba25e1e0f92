"""Helpers shared by the HTML forms."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash
from flask_wtf import FlaskForm

from app.errors import DomainError, ValidationFailed


def apply_errors(form: FlaskForm, error: DomainError) -> None:
    """Put a service's per-field reasons back on the form; anything else becomes a flash message."""
    if isinstance(error, ValidationFailed) and error.reasons:
        for name, messages in error.reasons.items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = list(field.errors or []) + list(messages)
            else:
                for message in messages:
                    flash(message, "danger")
        return
    flash(error.message, "danger")


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def commit_form(form: FlaskForm, action, success: str | None = None, apply=apply_errors) -> bool:
    """The shape of every POST action: validate the form, run the service; on a domain error roll back and show it
    on the form, otherwise commit once and flash `success`. True when the change is saved."""
    from app.extensions import db

    if not form.validate_on_submit():
        return False
    try:
        action()
    except DomainError as error:
        db.session.rollback()
        apply(form, error)
        return False
    db.session.commit()
    if success:
        flash(success, "success")
    return True
