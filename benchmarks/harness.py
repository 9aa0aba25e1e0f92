"""The benchmark suite: every figure through the real path, beside its floor measured in the same run.

Usage: ./scripts/bench [--quick] [--scale full|tenth|hundredth] [--databases sqlite,postgresql] [--runs N]
                       [--load-seconds S] [--no-rush] [--out DIR]

For each database (a fresh SQLite file; a fresh PostgreSQL database at 127.0.0.1:5432, dropped afterwards) it
generates and loads the synthetic dataset (benchmarks.dataset), then measures:

- spend imports through the command line (`flask spend import`, a new process each time, as an administrator runs
  it): every line in one file, one tenth of them, and the same lines as ten files in a row (each file's time);
  floor: `pandas.read_csv` of the same file (`;`, dtype=str), in this process;
- the spend cube / pooling / local share / carbon APIs and the overlap API over HTTP to a real gunicorn (2 workers);
  floor: the bare SQL GROUP BY over the same rows (spend cells, submitted needs), in this process, and a static
  file of the same server; each API twice: asked again (answered from what the server remembers) and right after a
  write to its data (computed again);
- the pages (coordinator home, needs list, spend map, overlap map, a group, a call) under 8 concurrent clients with
  locust (headless, loopback), p50/p95/p99, each on a fresh server after a short warm-up; the home page, the
  overlap map and the spend map also while a need changes every 2 s, the two maps also while a spend cell changes
  every 2 s; floor: the same server's static file under the same load;
- the SQL statements of `GET /api/v1/groups` (counted in this process, through the app's test client);
- on PostgreSQL, the deadline rush: 1,000 bids from 200 suppliers in 60 s, a burst in the last 5 s, gunicorn with
  4 workers plus the scheduler process; lost (accepted before the deadline, not stored), late (stored after it),
  5xx and p99.

Several runs per figure: median and min–max. Targets are reported, never enforced: the suite fails only when the
harness itself fails. `--quick` (the CI smoke run) takes a hundredth of the full scale, one run each, a few seconds
of load, and a short rush. Writes `benchmarks/results/latest.json` and `latest.md` with the machine's description.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from benchmarks import dataset as data

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
STATIC_PATH = "/static/css/mutualis.css"
SERVING = ("-c", "python:app.serving")  # gunicorn's settings, as README "Deploying" starts it
SERVICE_CPU: list[float] = []  # processor time of each `service_import`, this process only (not the database's)
STEPS = ("imports", "apis", "pages", "groups", "rush")


@dataclass
class Figure:
    """One measured row: `runs` (seconds) beside `floor_runs` (seconds) of `floor`."""

    name: str
    database: str
    runs: list[float]
    floor: str = ""
    floor_runs: list[float] = field(default_factory=list)
    target: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    @property
    def floor_median(self) -> float | None:
        return statistics.median(self.floor_runs) if self.floor_runs else None

    @property
    def ratio(self) -> float | None:
        if self.median is None or not self.floor_median:
            return None
        return self.median / self.floor_median

    def as_dict(self) -> dict:
        result = asdict(self)
        result.update(median=self.median, floor_median=self.floor_median, ratio=self.ratio)
        result["min"], result["max"] = (min(self.runs), max(self.runs)) if self.runs else (None, None)
        return result


def cpu_timed(action, runs: int) -> list[float]:
    """The processor time of this process (user + system) each run takes."""
    times = []
    for _ in range(runs):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return times


def timed(action, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


# --------------------------------------------------------------------------- machine


def machine() -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        ram = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    import sqlite3

    import gunicorn
    import numpy
    import pyarrow

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_bytes": ram,
        "load_average_at_start": os.getloadavg(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "pandas": pd.__version__,
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "sqlalchemy": sa.__version__,
        "gunicorn": gunicorn.__version__,
    }


def code_version() -> str:
    """The commit measured, "+ uncommitted changes" when the app, the benchmarks or the settings differ from it (the
    reports in benchmarks/results/ aside); "unknown" outside a git checkout."""
    git = shutil.which("git")
    if git is None:
        return "unknown"

    def output(*args: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed arguments
            [git, *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = output("rev-parse", "--short=12", "HEAD")
        changed = output("status", "--porcelain", "--", ".", ":(exclude)benchmarks/results")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} + uncommitted changes" if changed else commit


# --------------------------------------------------------------------------- databases and processes


@contextlib.contextmanager
def database(kind: str, workdir: Path):
    """A fresh, empty database URL of this kind, removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite'}"
        return
    name = f"mutualis_bench_{os.getpid()}_{int(time.time())}"
    admin = sa.create_engine(f"{PG_ADMIN_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL}/{name}"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_env(url: str, workdir: Path) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        MUTUALIS_ENV="development",
        SECRET_KEY="bench-secret-key-not-for-production",  # noqa: S106 - a throwaway server on loopback
        UPLOAD_FOLDER=str(workdir / "uploads"),
        FLASK_APP="app:create_app",
        RATELIMIT_STORAGE_URI=os.environ.get("BENCH_RATELIMIT_STORAGE_URI", "memory://"),
    )
    return env


def _stop(process: subprocess.Popen, stop_signal: int = signal.SIGTERM) -> None:
    """SIGTERM (gunicorn and the scheduler finish what they are doing; SIGQUIT: gunicorn stops at once), then
    SIGKILL after 30 s."""
    process.send_signal(stop_signal)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def server(url: str, workdir: Path, workers: int = 2, stop_signal: int = signal.SIGTERM):
    """A gunicorn serving the app on a free loopback port; yields its base URL; stopped (`stop_signal`) afterwards."""
    port = free_port()
    log = open(workdir / f"gunicorn-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603
        [str(VENV_BIN / "gunicorn"), *SERVING, "-w", str(workers), "-b", f"127.0.0.1:{port}", "app:create_app()"],
        cwd=ROOT,
        env=app_env(url, workdir),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base}/health", timeout=2).read()  # noqa: S310
                break
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn stopped: see {log.name}")
            time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not answer within 60 s")
        yield base
    finally:
        _stop(process, stop_signal)
        log.close()


@contextlib.contextmanager
def scheduler(url: str, workdir: Path):
    log = open(workdir / "scheduler.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603
        [str(VENV_BIN / "flask"), "scheduler"],
        cwd=ROOT,
        env=app_env(url, workdir),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        _stop(process)
        log.close()


def http(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, bytes]:
    headers = {"Accept": "application/json"}
    payload = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=payload, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def api_token(base: str, email: str) -> str:
    status, body = http("POST", f"{base}/api/v1/tokens", body={"email": email, "password": data.BENCH_PASSWORD})
    if status != 201:
        raise RuntimeError(f"no API token for {email}: {status} {body[:200]!r}")
    return json.loads(body)["token"]


# --------------------------------------------------------------------------- measures


def read_csv_floor(path: Path) -> None:
    pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)


def cli_import(url: str, workdir: Path, path: Path, org: str) -> float:
    return cli_import_measured(url, workdir, path, org)[0]


# Runs a command and reports its wall time, peak RSS and processor time on the last line of stderr. Spawned from
# this small process, not from the harness: Linux carries a process's peak RSS over fork and exec, so a command
# spawned by the harness (which holds the whole dataset) would report at least the harness's own RSS.
_MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:])
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"\\nMEASURED {elapsed} {usage.ru_maxrss * 1024} {usage.ru_utime + usage.ru_stime}", file=sys.stderr)
sys.exit(code)
"""


def cli_import_measured(url: str, workdir: Path, path: Path, org: str) -> tuple[float, int, float]:
    """`flask spend import` in a new process: its wall time (seconds), its peak resident memory (bytes) and the
    processor time it used (user + system, seconds: what a machine shared with other work does not inflate)."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _MEASURE, str(VENV_BIN / "flask"), "spend", "import", str(path), "--org", org],
        cwd=ROOT,
        env=app_env(url, workdir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask spend import {path.name} failed: {done.stderr[-2000:]}")
    elapsed, peak, cpu = done.stderr.rsplit("MEASURED ", 1)[1].split()
    return float(elapsed), int(peak), float(cpu)


def process_read_csv_floor(path: Path) -> None:
    """read_csv of the file in a new Python process: the interpreter's start-up and pandas' import included, as
    the command line pays them."""
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            "import sys, pandas; pandas.read_csv(sys.argv[1], sep=';', dtype=str, keep_default_na=False)",
            str(path),
        ],
        check=True,
    )


def service_import(url: str, path: Path, org: str) -> float:
    from app import create_app
    from app.actors import SYSTEM
    from app.extensions import db
    from app.spend.services import import_spend
    from config import DevelopmentConfig

    app = create_app(type("BenchConfig", (DevelopmentConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        start, cpu = time.perf_counter(), time.process_time()
        import_spend(db.session, SYSTEM, path, path.name, organization=org, max_rows=None)
        db.session.commit()
        elapsed = time.perf_counter() - start
        SERVICE_CPU.append(time.process_time() - cpu)
        db.engine.dispose()
    return elapsed


def add_organizations(url: str, codes: list[str]) -> None:
    from app.db import random_id

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO organization (id, code, name, kind, is_central_government, is_demo, created_at) "
                "VALUES (:id, :code, :name, 'other', false, false, :now)"
            ),
            [{"id": random_id(), "code": c, "name": f"Import {c}", "now": datetime.now(UTC)} for c in codes],
        )
    engine.dispose()


def measure_imports(url: str, kind: str, workdir: Path, files: Path, runs: int) -> list[Figure]:
    figures = []
    whole, part = files / "spend" / "all.csv", data.part_file(files, 1)
    lines, part_lines = _data_rows(whole), _data_rows(part)
    for label, path, count in (("one file", whole, lines), ("one file", part, part_lines)):
        codes = [f"I{len(figures)}{run:02d}" for run in range(runs)]
        add_organizations(url, codes)
        measured = [cli_import_measured(url, workdir, path, code) for code in codes]
        times, peaks, cpu = [t for t, _, _ in measured], [m for _, m, _ in measured], [c for _, _, c in measured]
        process_floor = timed(lambda path=path: process_read_csv_floor(path), max(runs, 3))
        cpu_floor = cpu_timed(lambda path=path: read_csv_floor(path), max(runs, 3))
        figure = Figure(
            f"spend import, {count:,} lines in {label} (CLI)",
            kind,
            times,
            "pandas.read_csv of the same file",
            timed(lambda path=path: read_csv_floor(path), max(runs, 3)),
            "≤ 3× read_csv, memory bounded",
            extra={
                "peak_rss_bytes": peaks,
                "process_read_csv_seconds": process_floor,
                "cpu_seconds": cpu,
                "read_csv_cpu_seconds": cpu_floor,
            },
        )
        figure.note = (
            f"peak RSS {max(peaks) / 2**20:.0f} MB; {figure.median / statistics.median(process_floor):.1f}× "
            f"read_csv in a new Python process ({fmt_seconds(statistics.median(process_floor))}); processor time "
            f"{fmt_seconds(statistics.median(cpu))}, {statistics.median(cpu) / statistics.median(cpu_floor):.1f}× "
            "read_csv's"
        )
        figures.append(figure)
    figures.append(database_write_figure(url, kind, whole, lines, runs))
    # The same import in this process (the service alone, without the command's start-up: importing the app's
    # modules takes seconds on a loaded machine), to tell the two costs apart.
    codes = [f"S{run:02d}" for run in range(runs)]
    add_organizations(url, codes)
    SERVICE_CPU.clear()
    service_times = [service_import(url, whole, code) for code in codes]
    cpu, cpu_floor = list(SERVICE_CPU), cpu_timed(lambda: read_csv_floor(whole), max(runs, 3))
    figures.append(
        Figure(
            f"spend import, {lines:,} lines in one file (service in process)",
            kind,
            service_times,
            "pandas.read_csv of the same file",
            timed(lambda: read_csv_floor(whole), max(runs, 3)),
            "≤ 3× read_csv",
            note=f"processor time of this process {fmt_seconds(statistics.median(cpu))}, "
            f"{statistics.median(cpu) / statistics.median(cpu_floor):.1f}× read_csv's"
            + (
                " (SQLite included: it runs in this process)"
                if kind == "sqlite"
                else " (the server's work not included)"
            ),
            extra={"cpu_seconds": cpu, "read_csv_cpu_seconds": cpu_floor},
        )
    )
    figures.append(ten_files_figure(url, kind, workdir, files, lines, runs))
    return figures


def ten_files_figure(url: str, kind: str, workdir: Path, files: Path, lines: int, runs: int) -> Figure:
    """The parts of the file (`data.PARTS`) imported one after the other into one organization, `runs` times (a new
    organization each time): each file's median time against its place in the row. Constant per file means no trend:
    the least-squares slope over the places, as a share of the mean file, and the last three files against the first
    three, in wall time and in processor time (which other work on a shared machine does not inflate)."""
    codes = [f"TEN{run:02d}" for run in range(runs)]
    add_organizations(url, codes)
    rows = [
        [cli_import_measured(url, workdir, data.part_file(files, n), code) for n in range(1, data.PARTS + 1)]
        for code in codes
    ]
    wall = [statistics.median(row[place][0] for row in rows) for place in range(data.PARTS)]
    cpu = [statistics.median(row[place][2] for row in rows) for place in range(data.PARTS)]
    trend, tail = _trend(wall), _tail_over_head(wall)
    cpu_trend, cpu_tail = _trend(cpu), _tail_over_head(cpu)
    part = data.part_file(files, 1)
    return Figure(
        f"spend import, {lines:,} lines as {data.PARTS} files in a row (CLI, per file)",
        kind,
        wall,
        "pandas.read_csv of one file",
        timed(lambda: read_csv_floor(part), max(runs, 3)),
        "constant per file",
        note=f"median of {runs} row(s) per place; last 3 files / first 3: {tail:.2f} wall, {cpu_tail:.2f} processor "
        f"time; trend over the {data.PARTS} files {trend:+.0%} wall, {cpu_trend:+.0%} processor time",
        extra={
            "per_file_seconds": wall,
            "per_file_cpu_seconds": cpu,
            "rows": [[{"seconds": t, "peak_bytes": m, "cpu_seconds": c} for t, m, c in row] for row in rows],
            "last_over_first": wall[-1] / wall[0],
            "last_three_over_first_three": tail,
            "trend": trend,
            "cpu_last_three_over_first_three": cpu_tail,
            "cpu_trend": cpu_trend,
        },
    )


def _trend(seconds: list[float]) -> float:
    """How much a row of figures grows from its first place to its last, by the least-squares line through them, as a
    share of their mean (0: flat)."""
    slope = statistics.linear_regression(range(len(seconds)), seconds).slope
    return slope * (len(seconds) - 1) / statistics.mean(seconds)


def _tail_over_head(seconds: list[float]) -> float:
    """The median of a row's last three figures over the median of its first three (1: flat; one slow run moves
    neither)."""
    return statistics.median(seconds[-3:]) / statistics.median(seconds[:3])


# The columns of a spend line the bare write copies (all of them; `occurrence` shifted so that no line conflicts).
def database_write_floor(url: str, lines: int) -> float:
    """The database's own cost of writing `lines` spend lines: one INSERT ... SELECT copying the blocks of an import of
    that many lines within spend_block (same table, indexes, keys and checks; new ids, places moved past the
    import's own), timed and rolled back. No file, parsing, checks or driver round trips: what any import of these
    lines pays at least, whatever its code."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":  # as the app's connections: foreign keys checked
        sa.event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA foreign_keys=ON"))
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            source = connection.execute(
                sa.text("SELECT id FROM spend_import WHERE line_count = :lines ORDER BY id LIMIT 1"), {"lines": lines}
            ).scalar_one()
            start = time.perf_counter()
            connection.exec_driver_sql(
                "INSERT INTO spend_block (id, import_id, organization_id, seq, line_count, lines, keys) "  # noqa: S608
                "SELECT id + 1, import_id, organization_id, seq + 1000000, line_count, lines, keys FROM spend_block "
                f"WHERE import_id = {int(source)}"
            )
            elapsed = time.perf_counter() - start
            transaction.rollback()
    finally:
        engine.dispose()
    return elapsed


def database_write_figure(url: str, kind: str, path: Path, lines: int, runs: int) -> Figure:
    """How much of an import the database's own write is, beside the same read_csv floor."""
    writes = [database_write_floor(url, lines) for _ in range(max(runs, 3))]
    return Figure(
        f"database's own write of the same {lines:,} lines (bare INSERT ... SELECT, rolled back)",
        kind,
        writes,
        "pandas.read_csv of the same file",
        timed(lambda: read_csv_floor(path), max(runs, 3)),
        "— (what an import cannot go below)",
        note="the import's blocks of lines (Parquet) copied within spend_block, with its primary key, indexes, foreign "
        "key and checks: the part of an import no code of the import can remove",
    )


def _data_rows(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle) - 1


SPEND_FLOOR = (
    "SELECT organization_id, substr(cpv_prefix, 1, 3), year, sum(amount), sum(lines) FROM spend_cell "
    "GROUP BY organization_id, substr(cpv_prefix, 1, 3), year"
)
NEEDS_FLOOR = (
    "SELECT substr(cpv_code, 1, 4), count(DISTINCT organization_id), sum(annual_amount), count(*) FROM need "
    "WHERE status = 'submitted' GROUP BY substr(cpv_code, 1, 4) HAVING count(DISTINCT organization_id) > 1"
)
# A write that changes the data an answer comes from without changing its figures: the database triggers give the
# topic a new token, as a real change would, so the next request computes the answer again.
TOUCH_SPEND = "UPDATE spend_cell SET amount = amount WHERE id = (SELECT min(id) FROM spend_cell)"
TOUCH_NEEDS = "UPDATE need SET title = title WHERE id = (SELECT min(id) FROM need)"
APIS = (
    ("spend cube API", "/api/v1/spend/cube?level=group", SPEND_FLOOR, TOUCH_SPEND),
    ("spend pooling API", "/api/v1/spend/pooling?level=group", SPEND_FLOOR, TOUCH_SPEND),
    ("spend local share API", "/api/v1/spend/local-share", SPEND_FLOOR, TOUCH_SPEND),
    ("spend carbon API", "/api/v1/spend/carbon", SPEND_FLOOR, TOUCH_SPEND),
    ("overlap API", "/api/v1/overlaps?level=class", NEEDS_FLOOR, TOUCH_NEEDS),
)


def sql_floor(url: str, statement: str, runs: int) -> list[float]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        connection.exec_driver_sql(statement).fetchall()  # warm the cache as the server's is
        times = timed(lambda: connection.exec_driver_sql(statement).fetchall(), runs)
    engine.dispose()
    return times


def after_a_change(url: str, touch: str, request, runs: int) -> list[float]:
    """request() timed right after a write to the data it answers from (committed before the clock starts): the
    answer cannot come from what the server remembers, it is computed again."""
    engine = sa.create_engine(url)
    times = []
    try:
        for _ in range(runs):
            with engine.begin() as connection:
                connection.exec_driver_sql(touch)
            times += timed(request, 1)
    finally:
        engine.dispose()
    return times


def measure_apis(url: str, kind: str, base: str, runs: int) -> list[Figure]:
    """Each API twice: as readers mostly get it (the same data asked again: the answer remembered until the data
    changes) and right after a change of its data (computed again), both beside the same GROUP BY floor."""
    token = api_token(base, "coordinator@bench.invalid")
    static = timed(lambda: http("GET", f"{base}{STATIC_PATH}"), runs)
    figures = []
    for name, path, floor, touch in APIS:
        status, body = http("GET", f"{base}{path}", token)  # warm-up, and the answer must be a success
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:300]!r}")

        def request(path=path):
            return http("GET", f"{base}{path}", token)

        floor_runs = sql_floor(url, floor, runs)
        extra = {"bytes": len(body), "static_file_median": statistics.median(static)}
        for label, times in (
            (name, timed(request, runs)),
            (f"{name}, first answer after a data change", after_a_change(url, touch, request, runs)),
        ):
            figures.append(
                Figure(
                    label,
                    kind,
                    times,
                    "bare SQL GROUP BY over the same rows",
                    floor_runs,
                    "≤ 2× the GROUP BY, median < 300 ms",
                    extra=extra,
                )
            )
    return figures


def page_paths(url: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        group = connection.exec_driver_sql("SELECT min(id) FROM purchase_group").scalar()
        call = connection.exec_driver_sql("SELECT min(id) FROM call").scalar()
    engine.dispose()
    return [
        ("coordinator home", "/"),
        ("needs list", "/needs"),
        ("spend map", "/spend"),
        ("overlap map", "/overlaps"),
        ("group page", f"/groups/{group}"),
        ("call page", f"/calls/{call}"),
        ("static file (floor)", STATIC_PATH),
    ]


def locust_run(base: str, workdir: Path, pages: list[tuple[str, str]], seconds: int, email: str | None) -> dict:
    prefix = workdir / f"locust-{int(time.time() * 1000)}"
    env = dict(os.environ)
    env.update(BENCH_PAGES=",".join(f"{n}={p}" for n, p in pages), BENCH_PASSWORD=data.BENCH_PASSWORD)
    env["BENCH_EMAIL"] = email or ""
    done = subprocess.run(  # noqa: S603
        [
            str(VENV_BIN / "locust"),
            "-f",
            str(Path(__file__).with_name("locustfile.py")),
            "--headless",
            "-u",
            "8",
            "-r",
            "8",
            "-t",
            f"{seconds}s",
            "--host",
            base,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "ERROR",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust wrote no statistics: {done.stderr[-2000:]}")
    rows = {}
    with open(stats, newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": _number(row["50%"]),
                "p95_ms": _number(row["95%"]),
                "p99_ms": _number(row["99%"]),
                "average_bytes": _number(row["Average Content Size"]),
            }
    return rows


def _number(text: str) -> float | None:
    """A locust statistic; "N/A" when no request completed."""
    try:
        return float(text)
    except ValueError:
        return None


# Pages measured again while their data changes every WRITE_EVERY seconds (what changes, the write, the pages): each
# change makes the next request of each server process compute the page's results again. The maps show both needs
# and past spend, and remember each apart (per CPV division, per organization).
PAGES_UNDER_WRITES = (
    ("a need", TOUCH_NEEDS, ("coordinator home", "overlap map", "spend map")),
    ("a spend cell", TOUCH_SPEND, ("overlap map", "spend map")),
)
WRITE_EVERY = 2.0
WARM_UP_SECONDS = 3  # of load on each fresh server before its page is measured


@contextlib.contextmanager
def writing(url: str, statement: str, every: float):
    """Run `statement` (committed) every `every` seconds in a thread while the block runs; yields the count."""
    stop, done = threading.Event(), [0]
    engine = sa.create_engine(url)

    def loop():
        while not stop.wait(every):
            with engine.begin() as connection:
                connection.exec_driver_sql(statement)
            done[0] += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join()
        engine.dispose()


def measure_pages(url: str, kind: str, workdir: Path, seconds: int, workers: int = 2) -> list[Figure]:
    """Each page (and the static floor) measured on a gunicorn of its own, started once the previous one has stopped
    and the database is idle: a slow page's requests still queued or running when its load ends (in the server or
    as queries in PostgreSQL) cannot eat into the next page's measurement; each measured after WARM_UP_SECONDS of
    the same load, not counted. The pages that remember their results are measured again while their data changes
    every WRITE_EVERY seconds (PAGES_UNDER_WRITES)."""
    pages = page_paths(url)
    with isolated_server(url, workdir, workers) as base:
        locust_run(base, workdir, [pages[-1]], WARM_UP_SECONDS, None)  # as the pages: after the same warm-up
        floor = locust_run(base, workdir, [pages[-1]], seconds, None).get(pages[-1][0])
    if floor is None or floor["p95_ms"] is None:
        raise RuntimeError("the static file answered no request under load")
    runs = [(name, path, name, None) for name, path in pages[:-1]]
    runs += [
        (name, path, f"{name} with {what} changed every {WRITE_EVERY:g} s", touch)
        for what, touch, names in PAGES_UNDER_WRITES
        for name, path in pages[:-1]
        if name in names
    ]
    figures = []
    for name, path, label, touch in runs:
        # One page at a time under 8 clients, on a fresh server, so each figure is that page's own, not a mix.
        with isolated_server(url, workdir, workers) as base:
            # Steady state, not start-up: each worker's first requests load what the app reads lazily (templates,
            # translations, reference data); a short load first, not counted, gets them past that.
            locust_run(base, workdir, [(name, path)], WARM_UP_SECONDS, "coordinator@bench.invalid")
            with writing(url, touch, WRITE_EVERY) if touch else contextlib.nullcontext([0]) as writes:
                stats = locust_run(base, workdir, [(name, path)], seconds, "coordinator@bench.invalid").get(name)
        written = f", {writes[0]} writes" if touch else ""
        if (
            stats is None or stats["requests"] == 0 or stats["p95_ms"] is None
        ):  # a page too slow to answer once in the period: a result too
            figures.append(
                Figure(
                    f"{label} (8 clients, p95)",
                    kind,
                    [],
                    target="p95 < 150 ms",
                    note=f"no answer completed within the {seconds} s of load{written}",
                )
            )
            continue
        figures.append(
            Figure(
                f"{label} (8 clients, p95)",
                kind,
                [stats["p95_ms"] / 1000],
                "static file of the same server, 8 clients, p95",
                [floor["p95_ms"] / 1000],
                "p95 < 150 ms",
                note=f"{stats['requests']} requests, {stats['failures']} failed{written}",
                extra={"page": stats, "static": floor},
            )
        )
    return figures


@contextlib.contextmanager
def isolated_server(url: str, workdir: Path, workers: int = 2):
    """A fresh gunicorn for one measurement: the database is first waited idle, and once the measurement is over
    the server is stopped at once (SIGQUIT: requests still queued are dropped, not served into the next
    measurement) and the queries its workers left running are ended."""
    wait_idle(url)
    with server(url, workdir, workers, stop_signal=signal.SIGQUIT) as base:
        yield base
    wait_idle(url)


def wait_idle(url: str, timeout: float = 60.0) -> None:
    """Until no other session runs a statement on this database (PostgreSQL: those left by a stopped server are
    cancelled, then terminated; SQLite: a stopped server's processes hold nothing once they are gone)."""
    engine = sa.create_engine(url)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        return
    others = (
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND state <> 'idle' AND backend_type = 'client backend'"
    )
    deadline = time.monotonic() + timeout
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            while time.monotonic() < deadline:
                if not connection.exec_driver_sql(f"SELECT count(*) {others}").scalar():  # noqa: S608
                    return
                connection.exec_driver_sql(f"SELECT pg_cancel_backend(pid) {others}")  # noqa: S608
                time.sleep(0.5)
            connection.exec_driver_sql(f"SELECT pg_terminate_backend(pid) {others}")  # noqa: S608
    finally:
        engine.dispose()


def measure_groups_statements(url: str, kind: str, workdir: Path) -> Figure:
    from app import create_app
    from config import DevelopmentConfig

    app = create_app(type("BenchConfig", (DevelopmentConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    client = app.test_client()
    response = client.post(
        "/api/v1/tokens", json={"email": "coordinator@bench.invalid", "password": data.BENCH_PASSWORD}
    )
    token = response.get_json()["token"]
    count = {"value": 0}

    def before(*_args):
        count["value"] += 1

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    try:
        start = time.perf_counter()
        listed = client.get("/api/v1/groups", headers={"Authorization": f"Bearer {token}"})
        elapsed = time.perf_counter() - start
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", before)
    with app.app_context():
        from app.extensions import db

        groups = db.session.scalar(sa.text("SELECT count(*) FROM purchase_group"))
        db.engine.dispose()
    return Figure(
        "GET /api/v1/groups, SQL statements",
        kind,
        [elapsed],
        target="constant, paginated",
        note=f"{count['value']} statements for {groups} groups (status {listed.status_code})",
        extra={"statements": count["value"], "groups": groups, "items": len(listed.get_json().get("items", []))},
    )


# --------------------------------------------------------------------------- the deadline rush


def rush(url: str, workdir: Path, suppliers: int, bids: int, seconds: int, burst: int) -> Figure:
    """Bids from `suppliers` suppliers on a call whose deadline falls `seconds` after the start: most spread over the
    period, the rest in its last `burst` seconds; gunicorn with 4 workers and the scheduler running."""
    with server(url, workdir, workers=4) as base, scheduler(url, workdir):
        coordinator = api_token(base, "coordinator@bench.invalid")
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            group = connection.exec_driver_sql("SELECT min(id) FROM purchase_group").scalar()
            emails = [
                row[0]
                for row in connection.exec_driver_sql(
                    "SELECT email FROM user_account WHERE role = 'supplier' ORDER BY email"
                )
            ][:suppliers]
        tokens = {}
        with ThreadPoolExecutor(8) as pool:
            for email, token in zip(emails, pool.map(lambda e: api_token(base, e), emails), strict=True):
                tokens[email] = token
        lots = max(1, bids // max(1, len(emails)))
        deadline = datetime.now(UTC) + timedelta(seconds=seconds + 10)  # the suppliers' tokens are issued first
        status, body = http(
            "POST",
            f"{base}/api/v1/groups/{group}/calls",
            coordinator,
            {
                "title": "Consultation de la ruée",
                "description": "Mesure",
                "questions_deadline": (deadline - timedelta(seconds=1)).isoformat(),
                "bid_deadline": deadline.isoformat(),
                "lots": [
                    {"title": f"Lot {n}", "cpv_code": "30192000", "estimated_amount_eur": "10000"}
                    for n in range(1, lots + 1)
                ],
                "criteria": [{"name": "price", "weight": 100}],
            },
        )
        if status != 201:
            raise RuntimeError(f"rush call not created: {status} {body[:300]!r}")
        call = json.loads(body)
        status, body = http("POST", f"{base}/api/v1/calls/{call['id']}/publish", coordinator)
        if status != 200:
            raise RuntimeError(f"rush call not published: {status} {body[:300]!r}")
        start = time.monotonic() + (deadline - datetime.now(UTC)).total_seconds() - seconds
        plan = []
        for index, (email, lot) in enumerate((e, lot) for lot in call["lots"] for e in emails):
            spread = index < int(len(emails) * lots * 0.7)
            at = (
                (index / (len(emails) * lots * 0.7)) * (seconds - burst)
                if spread
                else (seconds - burst + (index % 97) / 97 * (burst - 0.5))
            )
            plan.append((at, email, lot["id"]))
        results = []
        lock = threading.Lock()

        def send(item):
            at, email, lot_id = item
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = datetime.now(UTC)
            begin = time.perf_counter()
            code, answer = http(
                "POST",
                f"{base}/api/v1/calls/{call['id']}/bids",
                tokens[email],
                {"lot_id": lot_id, "amount_eur": "9000"},
            )
            with lock:
                results.append((sent, code, time.perf_counter() - begin, answer))

        while time.monotonic() < start:
            time.sleep(0.05)
        with ThreadPoolExecutor(64) as pool:
            list(pool.map(send, sorted(plan)))
        time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 35)  # the scheduler's period
        with engine.connect() as connection:
            stored = connection.exec_driver_sql(
                f"SELECT count(*) FROM bid WHERE call_id = {int(call['id'])}"  # noqa: S608
            ).scalar()
            late = (
                connection.exec_driver_sql(
                    f"SELECT count(*) FROM bid WHERE call_id = {int(call['id'])} AND submitted_at >= %s",  # noqa: S608
                    (deadline,),
                ).scalar()
                if engine.dialect.name == "postgresql"
                else None
            )
            closed = connection.exec_driver_sql(
                f"SELECT status FROM call WHERE id = {int(call['id'])}"  # noqa: S608
            ).scalar()
        engine.dispose()
    accepted = sum(1 for _, code, _, _ in results if code == 201)
    errors = sum(1 for _, code, _, _ in results if code >= 500)
    latencies = sorted(elapsed for _, _, elapsed, _ in results)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None
    return Figure(
        f"deadline rush: {len(results)} bids from {len(emails)} suppliers in {seconds} s (burst in the last {burst} s)",
        "postgresql",
        [p99] if p99 is not None else [],
        target="0 lost, 0 late, 0 5xx, p99",
        note=f"accepted {accepted}, stored {stored}, lost {accepted - stored}, late {late}, 5xx {errors}, "
        f"call {closed} after the deadline",
        extra={
            "accepted": accepted,
            "stored": stored,
            "lost": accepted - stored,
            "late": late,
            "errors_5xx": errors,
            "status_after": closed,
            "refused": {str(c): sum(1 for _, k, _, _ in results if k == c) for c in {k for _, k, _, _ in results}},
        },
    )


# --------------------------------------------------------------------------- report


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


def markdown(report: dict) -> str:
    lines = [
        "# Mutualis benchmark",
        "",
        f"Run {report['started_at']} — scale {report['scale']} ({report['counts']}), {report['runs']} run(s) per "
        f"figure, {report['load_seconds']} s of load per page, steps {', '.join(report.get('steps', STEPS))}. "
        "Targets are reported, not enforced. The APIs and pages remember their answers until the data they come "
        "from changes: each API is measured as readers mostly get it (the same data asked again) and right after a "
        "write to its data (computed again); pages are measured under load after a short warm-up of the same load on "
        "the same server (not counted), the home page and the two maps also while a need changes every 2 s, the two "
        "maps also while a spend cell changes every 2 s.",
        "",
        f"Code: {report.get('code', 'unknown')}. Machine: "
        + ", ".join(f"{k} {v}" for k, v in report["machine"].items()),
        "",
        "| database | measure | median (min–max) | floor | floor median | ratio | target | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for item in report["figures"]:
        spread = (
            f"{fmt_seconds(item['median'])} ({fmt_seconds(item['min'])}–{fmt_seconds(item['max'])})"
            if item["runs"]
            else "—"
        )
        ratio = f"{item['ratio']:.1f}×" if item["ratio"] is not None else "—"
        lines.append(
            f"| {item['database']} | {item['name']} | {spread} | {item['floor'] or '—'} | "
            f"{fmt_seconds(item['floor_median'])} | {ratio} | {item['target']} | {item['note']} |"
        )
    for note in report.get("notes", []):
        lines.append(f"\nNote: {note}")
    for problem in report["errors"]:
        lines.append(f"\nNot measured: {problem}")
    return "\n".join(lines) + "\n"


def run(args) -> dict:
    scale = data.Scale.named(args.scale)
    started = datetime.now(UTC)
    report = {
        "started_at": started.isoformat(timespec="seconds"),
        "scale": args.scale,
        "counts": ", ".join(f"{k} {v:,}" for k, v in asdict(scale).items()),
        "runs": args.runs,
        "load_seconds": args.load_seconds,
        "steps": args.only or list(STEPS),
        "code": code_version(),
        "machine": machine(),
        "figures": [],
        "errors": [],
    }
    compile_sources()
    workdir = Path(tempfile.mkdtemp(prefix="mutualis-bench-"))
    try:
        generated = data.generate(scale, args.seed)
        files = workdir / "files"
        data.write_files(generated, files)
        for kind in args.databases:
            with database(kind, workdir) as url:
                print(f"[{kind}] loading the {args.scale} dataset ...", flush=True)
                data.load(generated, url)  # ends with ANALYZE
                report["machine"][f"{kind}_version"] = _server_version(url)
                steps = [
                    ("imports", lambda url=url, kind=kind: measure_imports(url, kind, workdir, files, args.runs)),
                    ("apis", lambda url=url, kind=kind: _api_figures(url, kind, workdir, args)),
                    ("pages", lambda url=url, kind=kind: measure_pages(url, kind, workdir, args.load_seconds)),
                    ("groups", lambda url=url, kind=kind: [measure_groups_statements(url, kind, workdir)]),
                ]
                if kind == "postgresql" and not args.no_rush:
                    steps.append(("rush", lambda url=url: [rush(url, workdir, *args.rush)]))
                steps = [(name, step) for name, step in steps if not args.only or name in args.only]
                for name, step in steps:
                    print(f"[{kind}] {name} ...", flush=True)
                    try:
                        report["figures"] += [f.as_dict() for f in step()]
                    except Exception as exc:  # a figure that cannot be measured is reported, the others still run
                        report["errors"].append(f"{kind} {name}: {type(exc).__name__}: {exc}")
                        print(f"[{kind}] {name} failed: {exc}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    return report


def compile_sources() -> None:
    """Byte-compile the app as an installation does, so that each `flask` process measured loads compiled modules
    (with PYTHONDONTWRITEBYTECODE set, as in some shells and containers, it would otherwise compile every module of
    the app again at each start)."""
    import compileall

    compileall.compile_dir(ROOT / "app", quiet=1, workers=1)
    compileall.compile_file(ROOT / "config.py", quiet=1)


def _api_figures(url: str, kind: str, workdir: Path, args) -> list[Figure]:
    with isolated_server(url, workdir) as base:
        return measure_apis(url, kind, base, args.runs)


def _server_version(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            version = connection.exec_driver_sql("SHOW server_version").scalar()
        else:
            version = connection.exec_driver_sql("SELECT sqlite_version()").scalar()
    engine.dispose()
    return version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: hundredth scale, one run, short load")
    parser.add_argument("--scale", choices=("full", "tenth", "hundredth"), default="tenth")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load-seconds", type=int, default=20)
    parser.add_argument("--no-rush", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--only", default="", help=f"measure only these steps, comma-separated: {', '.join(STEPS)} (default: all)"
    )
    parser.add_argument("--name", default=None, help="report file name (default: latest, or quick with --quick)")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    args.only = [step.strip() for step in args.only.split(",") if step.strip()]
    unknown = set(args.only) - set(STEPS)
    if unknown:
        parser.error(f"unknown step(s) {', '.join(sorted(unknown))}: choose among {', '.join(STEPS)}")
    args.rush = (200, 1000, 60, 5)  # suppliers, bids, seconds, burst
    if args.quick:
        args.scale, args.runs, args.load_seconds, args.rush = "hundredth", 1, 8, (20, 40, 10, 3)
    report = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.name or ("quick" if args.quick else "latest")
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / f"{name}.md").write_text(markdown(report))
    print(markdown(report))
    if report["errors"]:
        print("The harness could not measure: " + "; ".join(report["errors"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
