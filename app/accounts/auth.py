"""Who is calling: session users for pages, bearer tokens for the API, and role guards."""

from __future__ import annotations

from functools import wraps

from flask import Flask, abort, g, request
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user

from app.extensions import db


def init_login(app: Flask, login_manager: LoginManager) -> None:
    from app.accounts import services
    from app.actors import AnonymousActor

    login_manager.init_app(app)
    login_manager.anonymous_user = AnonymousActor
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    # Bids need a fresh login: a session restored from the remember-me cookie asks for the password again.
    login_manager.refresh_view = "accounts.login"
    login_manager.needs_refresh_message = _l(
        "For your security, log in again with your password to submit or withdraw a bid."
    )
    login_manager.needs_refresh_message_category = "warning"

    @login_manager.user_loader
    def load_user(user_id: str):
        # "<id>:<session_version>": a password change voids every earlier session and cookie.
        try:
            raw_id, raw_version = user_id.split(":", 1)
            ident, version = int(raw_id), int(raw_version)
        except (ValueError, AttributeError):
            return None
        from app.accounts.models import User

        user = db.session.get(User, ident)
        if user is None or user.session_version != version or not user.is_active:
            return None
        return user

    @login_manager.request_loader
    def load_user_from_bearer(req):
        if not req.path.startswith("/api/"):
            return None
        header = req.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        record = services.find_api_token(db.session, token.strip())
        if record is None:
            return None
        g.api_token = record  # the token this request came with, for DELETE /api/v1/tokens/current
        return record.user

    @login_manager.needs_refresh_handler
    def needs_refresh():
        """The login page serves visitors who are not logged in: end the remembered session (and its cookie), then
        log in with the password and come back to the page the user was on."""
        from urllib.parse import urlsplit

        from flask import flash, redirect, url_for
        from flask_login import logout_user

        if request.path.startswith("/api/"):
            abort(401)
        back = None
        if request.method == "GET":
            back = request.full_path if request.args else request.path
        elif request.referrer:
            parts = urlsplit(request.referrer)
            if parts.netloc == request.host and parts.path.startswith("/"):
                back = parts.path + (f"?{parts.query}" if parts.query else "")
        logout_user()
        flash(str(login_manager.needs_refresh_message), login_manager.needs_refresh_message_category)
        return redirect(url_for(login_manager.refresh_view, next=back))

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import flash, redirect, url_for

        if request.path.startswith("/api/"):
            abort(401)
        flash(login_manager.login_message, "info")
        return redirect(url_for("accounts.login", next=request.full_path if request.args else request.path))


def roles_required(*roles: str):
    """A page for logged-in users of the given roles; others get 403, anonymous users the login page."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from app.extensions import login_manager

                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles  # read by the route-guard test
        return wrapped

    return decorator


def login_required(view):
    return roles_required()(view)


def public(view):
    """Mark a page as open to anonymous visitors (checked by the route-guard test)."""
    view.is_public = True
    return view
