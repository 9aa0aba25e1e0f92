"""Exactly one active scheduler per database, whatever the number of hosts running `flask scheduler`.

The scheduler that holds the lock runs the jobs; any other waits in standby, trying again every few seconds, and
takes over once the holder stops (or its host dies).

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) taken on a connection of its own, kept open
  while the jobs run. The server releases it when that connection ends, however the process ends. The connection
  is checked regularly: a scheduler that lost it stops its jobs and goes back to standby, since another may then
  have taken over.
- SQLite (one machine): an exclusive `flock` on a file beside the database, released by the kernel when the
  process ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

log = logging.getLogger("mutualis.scheduler")

# pg_advisory_lock key of the scheduler ("sched" in ASCII); the audit chain has its own.
SCHEDULER_LOCK_KEY = 0x7363686564


class SchedulerLock(Protocol):
    def try_acquire(self) -> bool: ...  # True: this process is now the active scheduler

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresLock:
    def __init__(self, url: str):
        self._engine = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._connection: sa.Connection | None = None

    def try_acquire(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            held = self._connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEDULER_LOCK_KEY}
            ).scalar()
        except sa.exc.DBAPIError:
            log.warning("the database cannot be reached to take the scheduler lock; trying again", exc_info=True)
            self._drop()
            return False
        return bool(held)

    def still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError:
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sa.exc.DBAPIError):  # a connection gone took the lock with it
                self._connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEDULER_LOCK_KEY})
            self._drop()
        self._engine.dispose()

    def _drop(self) -> None:
        """Let go of the connection (and the lock with it). Its DBAPI connection is discarded first, so closing has
        nothing to roll back; SQLAlchemy may still refuse to close an invalidated transaction, which is then moot."""
        if self._connection is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._connection.invalidate()
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._connection.close()
            self._connection = None


class FileLock:
    def __init__(self, path: Path):
        self._path = path
        self._file = None

    def try_acquire(self) -> bool:
        handle = open(self._path, "a+")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def still_held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def lock_for(url: str) -> SchedulerLock:
    """The lock that guards the scheduler of the database at `url`."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return PostgresLock(url)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        return FileLock(Path(database).with_name(Path(database).name + ".scheduler-lock"))
    raise RuntimeError(f"no scheduler lock for the database {parsed.render_as_string(hide_password=True)}")
