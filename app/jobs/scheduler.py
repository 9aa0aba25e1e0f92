"""APScheduler set-up: one blocking scheduler, jobs persisted in the application database."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

log = logging.getLogger("mutualis.scheduler")

_app: Flask | None = None

# (job id, function reference, trigger arguments): recurring housekeeping and deadline jobs.
RECURRING_JOBS = [
    ("purge-expired-credentials", "app.jobs.tasks:purge_expired_credentials", {"trigger": "interval", "hours": 1}),
    # Deadlines are also enforced at request time; this job closes calls and tells the coordinators.
    ("close-due-calls", "app.jobs.tasks:close_due_calls", {"trigger": "interval", "seconds": 30}),
    ("bid-deadline-reminders", "app.jobs.tasks:send_bid_reminders", {"trigger": "interval", "minutes": 10}),
    ("unanswered-question-reminders", "app.jobs.tasks:send_question_reminders", {"trigger": "interval", "hours": 1}),
]


def job_app() -> Flask:
    """The Flask app jobs run in: the scheduler's own, or a new one when a job runs elsewhere."""
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


def build_scheduler(app: Flask) -> BlockingScheduler:
    global _app
    _app = app
    url = app.config.get("SCHEDULER_DATABASE_URL") or app.config["SQLALCHEMY_DATABASE_URI"]
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    now = datetime.now(UTC)
    for job_id, func, trigger in RECURRING_JOBS:
        # Each job runs once at start-up: after a downtime every overdue call is closed at once.
        scheduler.add_job(func, id=job_id, replace_existing=True, next_run_time=now, **trigger)
    return scheduler


def run(app: Flask) -> None:
    """Run until SIGTERM or Ctrl-C: the handler asks the scheduler to stop; jobs under way finish first."""
    scheduler = build_scheduler(app)

    def _stop(signum, frame):
        log.info("scheduler stopping")
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("scheduler started with %d job(s)", len(scheduler.get_jobs()))
    scheduler.start()  # returns once shut down
    log.info("scheduler stopped")
