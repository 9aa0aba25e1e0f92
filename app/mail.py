"""Outgoing mail: queued in the transaction and sent once it commits (never when it rolls back); written to the log
by default, sent through SMTP when MAIL_SERVER is configured. A mail that cannot be sent is logged and changes
nothing that was committed."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

from app import effects

log = logging.getLogger("mutualis.mail")

_SETTINGS = ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USERNAME", "MAIL_PASSWORD")


def queue_mail(session, to: str, subject: str, body: str) -> None:
    """Send this mail after `session` commits. The message and the server settings are taken now, in the app."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    settings = {name: config.get(name) for name in _SETTINGS}
    effects.after_commit(session, lambda: _send(settings, message), f"mail to {to}")


def _send(settings: dict, message: EmailMessage) -> None:
    if not settings["MAIL_SERVER"]:
        log.info("mail to=%s subject=%s\n%s", message["To"], message["Subject"], message.get_content())
        return
    try:
        with smtplib.SMTP(settings["MAIL_SERVER"], settings["MAIL_PORT"], timeout=15) as smtp:
            if settings["MAIL_USE_TLS"]:
                smtp.starttls()
            if settings["MAIL_USERNAME"]:
                smtp.login(settings["MAIL_USERNAME"], settings["MAIL_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):  # the server is down or refuses: what was committed stays
        log.exception("mail to=%s subject=%s failed", message["To"], message["Subject"])
        return
    log.info("mail to=%s subject=%s sent", message["To"], message["Subject"])
