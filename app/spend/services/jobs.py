"""Large spend files imported in the background: the web request stores the file and queues a job; the scheduler
process runs it (`run_spend_import_jobs`, one job at a time, each claimed by a conditional update so that it runs
once); the page follows it through `spend_import_job`.

The import itself is `import_spend` on the stored file (read a slice at a time, all or nothing, in one transaction).
Its progress (rows read) is written after each slice to a small file beside the stored one, not to the database:
the import's transaction is still open (and on SQLite holds the only write lock), and the page must see it.
The job runs outside any request: the problems it reports are written in the application's language (French).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.actors import ADMINS
from app.clock import utcnow
from app.effects import on_rollback
from app.errors import DomainError, NotFound
from app.organizations.models import Organization
from app.spend.models import SpendImportJob
from app.spend.services.imports import (
    _active_import_with,
    _duplicate,
    _import_organization,
    check_format,
    import_spend,
)

JOBS_FOLDER = "spend-jobs"


def _stored(folder: Path, job: SpendImportJob) -> Path:
    return folder / JOBS_FOLDER / job.storage_key


def queue_spend_import(
    session: Session,
    actor,
    data: bytes,
    filename: str,
    *,
    folder: Path,
    organization: Organization | str | None = None,
    fmt: str | None = None,
) -> SpendImportJob:
    """Keep the file under UPLOAD_FOLDER and queue its import for the scheduler (who may import for which
    organization is checked now, and again when the job runs)."""
    organization = _import_organization(session, actor, organization)
    check_format(fmt)
    # A file already imported is refused now, as a smaller one would be, not after its turn in the queue.
    existing = _active_import_with(session, organization.id, hashlib.sha256(data).hexdigest())
    if existing is not None:
        raise _duplicate(existing)
    job = SpendImportJob(
        organization_id=organization.id,
        requested_by_id=actor.id,
        filename=filename[-200:],
        format=fmt,
        storage_key=secrets.token_hex(24),
        size=len(data),
        rows_estimate=max(0, data.count(b"\n") - 1),
    )
    path = _stored(folder, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    on_rollback(session, lambda: path.unlink(missing_ok=True), "the stored spend file")
    session.add(job)
    session.flush()
    return job


def spend_import_job(session: Session, actor, job_id: int) -> SpendImportJob:
    """The job, for the person who queued it or an administrator; anyone else is told it does not exist."""
    job = session.get(SpendImportJob, job_id)
    if job is None or (job.requested_by_id != actor.id and actor.role not in ADMINS):
        raise NotFound(str(_l("This import does not exist.")))
    return job


def _progress_file(folder: Path, job: SpendImportJob) -> Path:
    return folder / JOBS_FOLDER / f"{job.storage_key}.progress"


def job_progress(job: SpendImportJob, folder: Path) -> int:
    """Rows read so far: from the progress file while the job runs, else what the job row says."""
    if job.status == "running":
        try:
            return int(_progress_file(folder, job).read_text() or 0)
        except (OSError, ValueError):
            return 0
    return job.rows_read


def _write_progress(path: Path, rows: int) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(str(rows))
    partial.replace(path)  # atomic: a reader sees the old number or the new one


def job_problems(job: SpendImportJob) -> list[dict]:
    try:
        return json.loads(job.problems or "[]")
    except ValueError:
        return []


def requeue_interrupted_jobs(session: Session) -> int:
    """Jobs left "running" by a scheduler that stopped in the middle of an import go back to the queue. An import
    runs in one transaction, so the stopped one wrote nothing; and this is called when a scheduler becomes the active
    one, when no other can be running a job."""
    return session.execute(
        sa.update(SpendImportJob).where(SpendImportJob.status == "running").values(status="queued", started_at=None)
    ).rowcount


def run_spend_import_jobs(session_factory: Callable[[], Session], folder: Path, actor_of) -> int:
    """Run every queued job, oldest first; returns how many ran. `actor_of(user_id)` gives the acting user."""
    done = 0
    while True:
        with session_factory() as session:
            job_id = session.scalar(
                sa.select(SpendImportJob.id)
                .where(SpendImportJob.status == "queued")
                .order_by(SpendImportJob.created_at)
                .limit(1)
            )
            if job_id is None:
                return done
            claimed = session.execute(
                sa.update(SpendImportJob)
                .where(SpendImportJob.id == job_id, SpendImportJob.status == "queued")
                .values(status="running", started_at=utcnow())
            ).rowcount
            session.commit()
        if claimed:
            _run_job(session_factory, folder, actor_of, job_id)
            done += 1


def _set(session_factory, job_id: int, **values) -> None:
    with session_factory() as session:
        session.execute(sa.update(SpendImportJob).where(SpendImportJob.id == job_id).values(**values))
        session.commit()


def _run_job(session_factory, folder: Path, actor_of, job_id: int) -> None:
    with session_factory() as session:
        job = session.get(SpendImportJob, job_id)
        path, progress = _stored(folder, job), _progress_file(folder, job)
        try:
            record = import_spend(
                session,
                actor_of(job.requested_by_id),
                path,
                job.filename,
                organization=job.organization,
                fmt=job.format,
                max_rows=None,
                progress=lambda rows: _write_progress(progress, rows),
            )
            session.commit()
            _set(
                session_factory,
                job_id,
                status="done",
                import_id=record.id,
                rows_read=record.line_count,
                finished_at=utcnow(),
            )
        except DomainError as error:
            session.rollback()
            problems = [
                {"row": p.get("row"), "column": p.get("column"), "message": str(p.get("message"))}
                for p in (error.details.get("rows") or [])
            ]
            for field, messages in error.details.get("fields", {}).items():
                problems += [{"row": None, "column": field, "message": str(m)} for m in messages]
            _set(
                session_factory,
                job_id,
                status="failed",
                message=error.message,
                problems=json.dumps(problems),
                finished_at=utcnow(),
            )
        except Exception:
            session.rollback()
            _set(
                session_factory,
                job_id,
                status="failed",
                message=str(_l("The import failed; nothing was imported.")),
                finished_at=utcnow(),
            )
            raise
        finally:
            path.unlink(missing_ok=True)
            progress.unlink(missing_ok=True)
