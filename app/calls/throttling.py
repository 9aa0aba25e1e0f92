"""Passphrases of opening committees are tried at most PASSPHRASE_RATE_LIMIT times per member (pages and API
together, in the rate-limit store every worker shares): each try costs an Argon2id derivation, and a member's
passphrase is not to be guessed by whoever holds the member's session."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from app.extensions import limiter

SCOPE = "committee-passphrase"


def _member_key() -> str:
    return f"user/{getattr(current_user, 'id', None)}"


def passphrase_throttled(view):
    return limiter.limit(lambda: current_app.config["PASSPHRASE_RATE_LIMIT"], key_func=_member_key, scope=SCOPE)(view)
