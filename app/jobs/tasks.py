"""Job functions: each opens an app context and calls a service, then commits."""

from __future__ import annotations

import logging

from app.jobs.scheduler import job_app, process_name

log = logging.getLogger("mutualis.jobs")


def purge_expired_credentials() -> int:
    from app.accounts.housekeeping import purge_expired_credentials as purge
    from app.extensions import db

    with job_app().app_context():
        removed = purge(db.session)
        db.session.commit()
    log.info("purged %d expired token(s) and invitation(s)", removed)
    return removed


def _run(name: str, service) -> int:
    from app.extensions import db

    with job_app().app_context():
        try:
            done = service(db.session)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", name)
            raise
    if done:
        log.info("%s: %s", name, done)
    return done


def close_due_calls():
    from app.calls.services import close_due_calls as close

    return _run("close-due-calls", lambda session: close(session, process=process_name()))


def send_bid_reminders() -> int:
    from app.calls.services import send_bid_reminders as remind

    return _run("bid-deadline-reminders", remind)


def send_question_reminders() -> int:
    from app.calls.services import send_question_reminders as remind

    return _run("unanswered-question-reminders", remind)
