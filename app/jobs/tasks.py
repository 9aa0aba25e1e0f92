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


def notify_contract_milestones() -> int:
    from app.contracts.services import notify_contract_milestones as notify

    return _run("contract-milestones", notify)


def run_spend_imports() -> int:
    """Import the large spend files queued by web uploads, one after the other."""
    from pathlib import Path

    from sqlalchemy.orm import Session

    from app.accounts.models import User
    from app.actors import SYSTEM
    from app.extensions import db
    from app.spend.services.jobs import run_spend_import_jobs

    app = job_app()
    with app.app_context():
        engine = db.engine

        def session_factory() -> Session:
            return Session(engine, expire_on_commit=False)

        def actor_of(user_id):
            user = db.session.get(User, user_id) if user_id is not None else None
            return user or SYSTEM

        done = run_spend_import_jobs(session_factory, Path(app.config["UPLOAD_FOLDER"]), actor_of)
        db.session.remove()
    if done:
        log.info("spend imports: %s file(s)", done)
    return done
