"""Supplier registration by mail, without telling anyone who is registered.

The registration page always answers "check your mail". What happened is said by mail to the mailbox concerned only:
a new registrant gets a link to choose a password (the account is created then, when the email is proved); the owner
of an email already registered is told they have an account; the users of a company already registered are told that
someone tried to register it, and the registrant that it is registered. Nothing is stored before the confirmation:
the link carries the registration's values, signed with the app's secret key and dated (itsdangerous).
"""

from __future__ import annotations

from dataclasses import asdict

from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.accounts.services import RegistrationCheck, SupplierRegistration
from app.errors import NotFound
from app.mail import queue_mail

SALT = "mutualis-supplier-registration"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def _hours() -> int:
    return current_app.config["REGISTRATION_LINK_HOURS"]


def values_from_token(token: str) -> SupplierRegistration:
    """The registration a confirmation link carries; NotFound when the link was altered or is too old."""
    try:
        data = _serializer().loads(token, max_age=_hours() * 3600)
    except SignatureExpired as exc:
        raise NotFound(
            str(_l("This link has expired (it was valid %(hours)d hours): register again.", hours=_hours()))
        ) from exc
    except BadSignature as exc:
        raise _invalid_link() from exc
    try:
        return SupplierRegistration(**data)
    except TypeError as exc:  # signed by an earlier version with other fields
        raise _invalid_link() from exc


def _invalid_link() -> NotFound:
    return NotFound(str(_l("This link is not valid: copy the whole link from the mail, or register again.")))


def queue_registration_mail(session, check: RegistrationCheck) -> None:
    """Tell the mailboxes concerned what became of a registration (the page says the same in every case); the mail
    leaves after `session` commits."""
    values = check.values
    login_link = url_for("accounts.login", _external=True)
    if check.account is not None:
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):  # the owner's language is not the requester's
            queue_mail(
                session,
                values.email,
                _("Your Mutualis account"),
                _(
                    "Someone asked to register a supplier account on Mutualis with this email address, but you already "
                    "have an account. Log in here (your password can be changed once logged in):\n%(link)s\n\n"
                    "If you did not ask for it, you can ignore this message.",
                    link=login_link,
                ),
            )
        return
    if check.company is not None:
        queue_mail(
            session,
            values.email,
            _("Your registration on Mutualis"),
            _(
                "The company with SIRET %(siret)s is already registered on Mutualis: a second account for it cannot "
                "be created this way. Ask the people who registered it, or the Mutualis administrators.",
                siret=values.siret,
            ),
        )
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            for user in check.company_users:
                queue_mail(
                    session,
                    user.email,
                    _("Someone tried to register your company on Mutualis"),
                    _(
                        "%(email)s asked to register %(company)s (SIRET %(siret)s) on Mutualis, where your account "
                        "already represents it. Nothing was created. If this person works with you, they can contact "
                        "the Mutualis administrators; otherwise you can ignore this message.",
                        email=values.email,
                        company=check.company.name,
                        siret=values.siret,
                    ),
                )
        return
    token = _serializer().dumps(asdict(values))
    queue_mail(
        session,
        values.email,
        _("Confirm your registration on Mutualis"),
        _(
            "To finish registering %(company)s on Mutualis, choose your password with this link (valid %(hours)d "
            "hours):\n%(link)s\n\nIf you did not ask for it, ignore this message: nothing was created.",
            company=values.company_name,
            hours=_hours(),
            link=url_for("accounts.confirm_registration", token=token, _external=True),
        ),
    )
