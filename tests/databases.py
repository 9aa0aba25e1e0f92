"""Fresh, empty databases for tests that migrate or deploy from nothing, on the database the suite runs on."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


@contextmanager
def fresh_database_url(tmp_path: Path, label: str) -> Iterator[str]:
    """A throwaway PostgreSQL database beside TEST_DATABASE_URL's (dropped afterwards), or a new SQLite file."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / f'{label}.sqlite'}"
        return
    name = f"mutualis_{label}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
