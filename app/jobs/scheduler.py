"""APScheduler set-up: one blocking scheduler, jobs persisted in the application database."""

from __future__ import annotations

import logging
import signal
import time

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app.clock import utcnow

log = logging.getLogger("mutualis.scheduler")

_app: Flask | None = None

# (job id, function reference, trigger arguments): recurring housekeeping and deadline jobs.
RECURRING_JOBS = [
    ("purge-expired-credentials", "app.jobs.tasks:purge_expired_credentials", {"trigger": "interval", "hours": 1}),
    # Deadlines are also enforced at request time; this job closes calls and tells the coordinators.
    ("close-due-calls", "app.jobs.tasks:close_due_calls", {"trigger": "interval", "seconds": 30}),
    ("bid-deadline-reminders", "app.jobs.tasks:send_bid_reminders", {"trigger": "interval", "minutes": 10}),
    ("unanswered-question-reminders", "app.jobs.tasks:send_question_reminders", {"trigger": "interval", "hours": 1}),
    # Large spend files uploaded on the web, imported in the background.
    ("spend-imports", "app.jobs.tasks:run_spend_imports", {"trigger": "interval", "seconds": 3}),
]


def job_app() -> Flask:
    """The Flask app jobs run in: the scheduler's own, or a new one when a job runs elsewhere."""
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


def build_scheduler(app: Flask) -> BackgroundScheduler:
    global _app
    _app = app
    url = app.config.get("SCHEDULER_DATABASE_URL") or app.config["SQLALCHEMY_DATABASE_URI"]
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    now = utcnow()
    for job_id, func, trigger in RECURRING_JOBS:
        # Each job runs once at start-up: after a downtime every overdue call is closed at once.
        scheduler.add_job(func, id=job_id, replace_existing=True, next_run_time=now, **trigger)
    return scheduler


def run(app: Flask) -> None:
    """Run until SIGTERM or Ctrl-C. The signal handler only raises a flag (nothing else is safe to do in a
    handler); the main thread sees it and shuts the scheduler down, letting jobs under way finish."""
    scheduler = build_scheduler(app)
    stop_requested: list[int] = []

    def _request_stop(signum, frame):
        stop_requested.append(signum)

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    scheduler.start()
    log.info("scheduler started with %d job(s)", len(scheduler.get_jobs()))
    while not stop_requested:
        time.sleep(0.5)
    log.info("scheduler stopping")
    scheduler.shutdown(wait=True)
    log.info("scheduler stopped")
