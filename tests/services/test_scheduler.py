import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from app.accounts.models import ApiToken, Invitation
from app.accounts.services import invite_user, issue_api_token
from app.clock import utcnow
from app.jobs import tasks
from app.jobs.scheduler import RECURRING_JOBS
from tests import factories


def _server_key(app) -> str:
    from app.calls.services import sealing

    with app.app_context():
        return sealing.server_key().hex()


def _start_scheduler(app, log: Path | None = None, **settings: str) -> subprocess.Popen:
    """`flask scheduler` as its own process, on the test database; its output piped, or written to `log`;
    `settings`: environment variables read by the configuration."""
    env = {
        **os.environ,
        "FLASK_APP": "app:create_app",
        "MUTUALIS_ENV": "development",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        # The web app's key for sealed bids, as a deployment shares it between web workers and the scheduler.
        "BID_SEALING_KEY": _server_key(app),
        **settings,
    }
    if log is None:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "scheduler"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    with log.open("w") as output:  # the process writes to its own copy of the file descriptor
        return subprocess.Popen([sys.executable, "-m", "flask", "scheduler"], env=env, stdout=output, stderr=output)


def _wait_for(check, what: str, seconds: float = 90):
    """Poll `check()` until it returns something true (generous: a loaded machine starts Python slowly)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


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


def _two_published_calls(bid_deadline):
    """(coordinator, [call ids]): two calls of a constituted group, published, bids until `bid_deadline`."""
    group, _, coordinator = factories.constituted_group()
    calls = [
        factories.call(
            coordinator,
            group,
            title=title,
            questions_deadline=bid_deadline - timedelta(minutes=1),
            bid_deadline=bid_deadline,
            publish=True,
        ).id
        for title in ("Premier appel", "Second appel")
    ]
    return coordinator, calls


def test_scheduler_starting_after_a_downtime_closes_every_overdue_call_at_once(app, db):
    from app.calls.models import Call
    from app.notifications.models import Notification

    now = utcnow()
    coordinator, created = _two_published_calls(now + timedelta(minutes=2))
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


def _closing_entries(db, call_id: int):
    from app.audit.models import AuditEvent

    db.session.expire_all()
    stmt = sa.select(AuditEvent).where(AuditEvent.kind == "call.closed", AuditEvent.object_id == call_id)
    entries = list(db.session.scalars(stmt))
    db.session.rollback()
    return entries


def test_a_second_scheduler_waits_in_standby_and_takes_over_when_the_first_stops(app, db, tmp_path):
    """Two `flask scheduler` processes on one database (PostgreSQL: an advisory lock; SQLite: a file lock): only the
    first runs jobs, the second logs that it is in standby; once the first is killed, the second takes over. Each
    call is closed once, by the process that held the lock (named in the audit trail)."""
    from app.calls.models import Call

    _, calls = _two_published_calls(utcnow() + timedelta(hours=2))
    db.session.commit()

    def deadline_passes(call_id: int) -> None:
        moment = utcnow()
        with db.engine.begin() as connection:
            connection.execute(
                sa.update(Call)
                .where(Call.id == call_id)
                .values(questions_deadline=moment - timedelta(seconds=2), bid_deadline=moment - timedelta(seconds=1))
            )

    fast = {"SCHEDULER_CLOSE_CALLS_SECONDS": "1", "SCHEDULER_STANDBY_SECONDS": "0.5"}
    logs = {name: tmp_path / f"{name}.log" for name in ("first", "second")}
    first = _start_scheduler(app, logs["first"], **fast)
    second = None
    try:
        _wait_for(lambda: "scheduler started" in logs["first"].read_text(), "the first scheduler to start")
        second = _start_scheduler(app, logs["second"], **fast)
        _wait_for(lambda: "in standby" in logs["second"].read_text(), "the second scheduler to wait")

        deadline_passes(calls[0])
        (closing,) = _wait_for(lambda: _closing_entries(db, calls[0]), "the first call to close")
        assert closing.details["process"].endswith(f":{first.pid}")
        runs_before = logs["first"].read_text().count('Running job "close_due_calls')
        time.sleep(3)  # several runs of the one-second job: all by the first scheduler, none by the second
        assert logs["first"].read_text().count('Running job "close_due_calls') >= runs_before + 2
        assert "Running job" not in logs["second"].read_text()
        assert "scheduler started" not in logs["second"].read_text()

        first.kill()  # as a crash would: no clean shutdown
        first.wait(timeout=30)
        _wait_for(lambda: "scheduler started" in logs["second"].read_text(), "the second scheduler to take over")
        deadline_passes(calls[1])
        (closing,) = _wait_for(lambda: _closing_entries(db, calls[1]), "the second call to close")
        assert closing.details["process"].endswith(f":{second.pid}")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                _stop(process)
    assert second.returncode == 0, logs["second"].read_text()
    assert [len(_closing_entries(db, call_id)) for call_id in calls] == [1, 1]
