import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import sqlalchemy as sa

from app.accounts.models import ApiToken, Invitation
from app.accounts.services import invite_user, issue_api_token
from app.clock import utcnow
from app.jobs import tasks
from app.jobs.scheduler import RECURRING_JOBS
from tests import factories


def _start_scheduler(app) -> subprocess.Popen:
    """`flask scheduler` as its own process, on the test database."""
    env = {
        **os.environ,
        "FLASK_APP": "app:create_app",
        "MUTUALIS_ENV": "development",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(process) -> str:
    """SIGTERM, then the output; a process that does not stop is killed (and the test fails on its exit code)."""
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_scheduler_process_stores_its_jobs_in_the_database_and_stops_cleanly(app, db):
    """`flask scheduler` as its own process: it registers the jobs in the database, and SIGTERM stops it."""
    process = _start_scheduler(app)
    try:
        ids: set = set()
        deadline = time.monotonic() + 90  # generous: a loaded machine starts Python slowly
        wanted = {job_id for job_id, _, _ in RECURRING_JOBS}
        while time.monotonic() < deadline and not wanted <= ids:  # the jobs are stored one by one
            time.sleep(0.2)
            with db.engine.connect() as connection:
                ids = set(connection.execute(sa.text("SELECT id FROM apscheduler_jobs")).scalars())
        assert {job_id for job_id, _, _ in RECURRING_JOBS} <= ids
    finally:
        output = _stop(process)
    assert process.returncode == 0, output
    assert "scheduler started" in output and "scheduler stopping" in output


def test_purge_job_removes_expired_tokens_and_invitations_only(app, db, monkeypatch):
    admin = factories.user("admin")
    _, fresh = issue_api_token(db.session, admin)
    _, old = issue_api_token(db.session, admin)
    old.expires_at = utcnow() - timedelta(hours=1)
    stale, _ = invite_user(db.session, admin, "late@example.fr", "coordinator", None)
    stale.expires_at = utcnow() - timedelta(days=1)
    invite_user(db.session, admin, "soon@example.fr", "coordinator", None)
    db.session.commit()

    import app.jobs.scheduler as scheduler_module

    monkeypatch.setattr(scheduler_module, "_app", app)  # the jobs run in this app, not one built from the environment
    assert tasks.purge_expired_credentials() == 2
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 1
    assert list(db.session.scalars(sa.select(Invitation.email))) == ["soon@example.fr"]


def test_scheduler_starting_after_a_downtime_closes_every_overdue_call_at_once(app, db):
    from app.calls.models import Call
    from app.notifications.models import Notification

    group, orgs, coordinator = factories.constituted_group()
    now = utcnow()
    created = []
    for title in ("Premier appel", "Second appel"):
        call = factories.call(
            coordinator,
            group,
            title=title,
            questions_deadline=now + timedelta(minutes=1),
            bid_deadline=now + timedelta(minutes=2),
            publish=True,
        )
        created.append(call.id)
    # The deadlines pass while no scheduler runs.
    db.session.execute(
        sa.update(Call).values(questions_deadline=now - timedelta(hours=2), bid_deadline=now - timedelta(hours=1))
    )
    db.session.commit()

    process = _start_scheduler(app)
    try:
        deadline = time.monotonic() + 90
        statuses: list = []
        while time.monotonic() < deadline:
            time.sleep(0.3)
            db.session.expire_all()
            statuses = list(db.session.scalars(sa.select(Call.status).where(Call.id.in_(created))))
            if statuses == ["closed", "closed"]:
                break
        assert statuses == ["closed", "closed"]
    finally:
        output = _stop(process)
    closed_notes = db.session.scalar(
        sa.select(sa.func.count(Notification.id)).where(Notification.kind == "call_closed")
    )
    assert closed_notes == 2, output  # one per call for the one coordinator: closed exactly once each
    # Their mail left after the job's commit (no SMTP server here: written to the process's log).
    assert output.count(f"mail to={coordinator.email} ") == 2, output
