"""Guards for API handlers: 401 for anonymous callers, 403 for the wrong role (both in the envelope)."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user

PUBLIC: list = []  # the OpenAPI security of an operation open to anonymous callers (`@blp.doc(security=PUBLIC)`)


def require(*roles: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401)
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles
        return wrapped

    return decorator
