"""Login throttling: failed logins are counted per account and per address, in the rate-limit store every worker
shares (Redis in production, RATELIMIT_STORAGE_URI).

Two limits, each counting failures only (a successful login costs nothing), shared by the login page and
POST /api/v1/tokens so that an attacker cannot double the guesses by using both:

- per account *and* address (LOGIN_RATE_LIMIT, 5 a minute and 20 an hour): a few guesses at one account from one
  address, then that address waits, even with the right password, so that a guesser learns nothing more;
- per address (LOGIN_ADDRESS_RATE_LIMIT, 20 a minute and 100 an hour): one address trying many accounts.

There is deliberately no limit per account alone: whoever knows an email address could then lock its owner out by
failing from anywhere. Failures from another address, or on another account from the same address (colleagues
behind one office address), never block a right password. Guessing one account from many addresses is slowed by
the per-address limits and made hopeless by the password rules (10 characters at least, common passwords refused).
Behind a reverse proxy, TRUSTED_PROXIES must be set so that the address is the client's, not the proxy's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from app.extensions import limiter

ACCOUNT_SCOPE = "login-account"
ADDRESS_SCOPE = "login-address"


def posted_email() -> str:
    """The email a login attempt names (form or JSON), as accounts are looked up: trimmed, in lower case."""
    if request.is_json:
        body = request.get_json(silent=True)
        email = body.get("email") if isinstance(body, dict) else None
    else:
        email = request.form.get("email")
    return email.strip().lower() if isinstance(email, str) else ""


def _hashed_email() -> str:
    """The posted email, hashed: no email address is kept in the rate-limit store."""
    return hashlib.sha256(posted_email().encode()).hexdigest()[:32]


def account_and_address() -> str:
    """The key of the per-account limit: the account and the client's address."""
    return f"{_hashed_email()}/{get_remote_address()}"


def login_throttled(failed: Callable) -> Callable:
    """Decorate a login view with both limits; `failed(response)` tells a failed attempt, the only kind counted."""

    def decorator(view):
        for limit, scope, key_func in (
            ("LOGIN_RATE_LIMIT", ACCOUNT_SCOPE, account_and_address),
            ("LOGIN_ADDRESS_RATE_LIMIT", ADDRESS_SCOPE, get_remote_address),
        ):
            view = limiter.shared_limit(
                _config_limit(limit), scope=scope, key_func=key_func, methods=["POST"], deduct_when=failed
            )(view)
        return view

    return decorator


def _config_limit(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _sent(response) -> bool:
    return response.status_code == 302


def _failed_form_or_wrong_link(response) -> bool:
    return response.status_code == 404 or (request.method == "POST" and response.status_code != 302)


def registration_throttled(view):
    """Registrations sent (each sends mail): per address, and per email address so that nobody can flood a mailbox
    from many addresses."""
    for limit, key_func in (
        ("REGISTRATION_EMAIL_RATE_LIMIT", _hashed_email),
        ("REGISTRATION_RATE_LIMIT", get_remote_address),
    ):
        view = limiter.limit(_config_limit(limit), key_func=key_func, methods=["POST"], deduct_when=_sent)(view)
    return view


def link_throttled(view):
    """Pages reached by a secret link (invitations, registration confirmations): wrong links and failed forms are
    counted per address, so that links cannot be guessed nor passwords tried at length."""
    return limiter.limit(
        _config_limit("ACCOUNT_FORMS_RATE_LIMIT"), key_func=get_remote_address, deduct_when=_failed_form_or_wrong_link
    )(view)


def _user_key() -> str:
    return f"user:{getattr(current_user, 'id', None)}"


def password_change_throttled(view):
    """Failed password changes (a wrong current password) per account: a stolen session cannot try passwords."""
    return limiter.limit(
        _config_limit("ACCOUNT_FORMS_RATE_LIMIT"),
        key_func=_user_key,
        methods=["POST"],
        deduct_when=lambda response: response.status_code != 302,
    )(view)
