"""APScheduler set-up: one blocking scheduler, jobs persisted in the application database, and exactly one active
scheduler per database (app.jobs.leadership): the others wait in standby and take over when it stops."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app.clock import utcnow
from app.jobs.leadership import lock_for

log = logging.getLogger("mutualis.scheduler")

_app: Flask | None = None

# (job id, function reference, trigger arguments): recurring housekeeping and deadline jobs.
RECURRING_JOBS = [
    ("purge-expired-credentials", "app.jobs.tasks:purge_expired_credentials", {"trigger": "interval", "hours": 1}),
    # Deadlines are also enforced at request time; this job closes calls and tells the coordinators.
    ("close-due-calls", "app.jobs.tasks:close_due_calls", {"trigger": "interval", "seconds": 30}),
    ("bid-deadline-reminders", "app.jobs.tasks:send_bid_reminders", {"trigger": "interval", "minutes": 10}),
    ("unanswered-question-reminders", "app.jobs.tasks:send_question_reminders", {"trigger": "interval", "hours": 1}),
    # Contracts ending within six months, framework agreements past 80 % of their maximum: told once each.
    ("contract-milestones", "app.jobs.tasks:notify_contract_milestones", {"trigger": "interval", "hours": 1}),
    # Large spend files uploaded on the web, imported in the background.
    ("spend-imports", "app.jobs.tasks:run_spend_imports", {"trigger": "interval", "seconds": 3}),
]


def process_name() -> str:
    """This scheduler process, as the audit trail names it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def job_app() -> Flask:
    """The Flask app jobs run in: the scheduler's own, or a new one when a job runs elsewhere."""
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


def _database_url(app: Flask) -> str:
    return app.config.get("SCHEDULER_DATABASE_URL") or app.config["SQLALCHEMY_DATABASE_URI"]


def build_scheduler(app: Flask) -> BackgroundScheduler:
    global _app
    _app = app
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=_database_url(app), tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    now = utcnow()
    close_every = app.config.get("SCHEDULER_CLOSE_CALLS_SECONDS")
    for job_id, func, trigger in RECURRING_JOBS:
        if job_id == "close-due-calls" and close_every:
            trigger = {"trigger": "interval", "seconds": close_every}
        # Each job runs once at start-up: after a downtime every overdue call is closed at once.
        scheduler.add_job(func, id=job_id, replace_existing=True, next_run_time=now, **trigger)
    return scheduler


def _sleep(seconds: float, stop_requested: list[int]) -> None:
    end = time.monotonic() + seconds
    while not stop_requested and time.monotonic() < end:
        time.sleep(min(0.2, max(0.0, end - time.monotonic())))


def run(app: Flask) -> None:
    """Run until SIGTERM or Ctrl-C. The signal handler only raises a flag (nothing else is safe to do in a
    handler); the main thread sees it and shuts the scheduler down, letting jobs under way finish.

    Jobs run only while this process holds the scheduler lock; without it, the process waits in standby and
    tries again every SCHEDULER_STANDBY_SECONDS. A lock lost (the database connection broke) stops the jobs and
    goes back to standby."""
    stop_requested: list[int] = []

    def _request_stop(signum, frame):
        stop_requested.append(signum)

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    standby_every = float(app.config.get("SCHEDULER_STANDBY_SECONDS") or 5)
    lock = lock_for(_database_url(app))
    in_standby = False
    try:
        while not stop_requested:
            if not lock.try_acquire():
                if not in_standby:
                    log.info("scheduler %s in standby: another scheduler is active on this database", process_name())
                    in_standby = True
                _sleep(standby_every, stop_requested)
                continue
            in_standby = False
            _run_jobs(app, lock, standby_every, stop_requested)
    finally:
        lock.release()
    log.info("scheduler stopped")


def requeue_interrupted_imports(app: Flask) -> int:
    """On becoming the active scheduler (holding the lock, the only process running jobs): the background imports
    a stopped scheduler left running died with it, and are queued again."""
    from app.extensions import db
    from app.spend.services.jobs import requeue_interrupted_jobs

    with app.app_context():
        requeued = requeue_interrupted_jobs(db.session)
        db.session.commit()
    if requeued:
        log.info("%d interrupted spend import(s) queued again", requeued)
    return requeued


def _run_jobs(app: Flask, lock, check_every: float, stop_requested: list[int]) -> None:
    scheduler = build_scheduler(app)
    requeue_interrupted_imports(app)
    scheduler.start()
    log.info("scheduler started with %d job(s), active as %s", len(scheduler.get_jobs()), process_name())
    try:
        while not stop_requested:
            _sleep(check_every, stop_requested)
            if not stop_requested and not lock.still_held():
                log.error("scheduler %s lost its lock (database connection): back to standby", process_name())
                break
    finally:
        log.info("scheduler stopping")
        scheduler.shutdown(wait=True)
