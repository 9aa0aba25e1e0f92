"""The benchmark harness's pieces at a tiny scale, through the same real paths (the command line, gunicorn over
HTTP, the SQL floors): they run and report what they measured. Timings themselves are never asserted."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from benchmarks import dataset, harness
from tests.bench.test_dataset import TINY


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bench")
    generated = dataset.generate(TINY, seed=3)
    dataset.write_files(generated, workdir / "files")
    url = f"sqlite:///{workdir / 'bench.sqlite'}"
    dataset.load(generated, url)
    return url, workdir


def test_imports_through_the_command_line_and_the_service_beside_read_csv(loaded):
    url, workdir = loaded
    harness.add_organizations(url, ["CLI", "SRV", "RSS"])
    whole = workdir / "files" / "spend" / "all.csv"
    assert harness.cli_import(url, workdir, whole, "CLI") > 0
    elapsed, peak, cpu = harness.cli_import_measured(url, workdir, whole, "RSS")
    assert elapsed > 0 and cpu > 0 and 20 * 2**20 < peak < 4 * 2**30  # the command's own memory, in bytes
    assert harness.service_import(url, whole, "SRV") > 0
    floor = harness.timed(lambda: harness.read_csv_floor(whole), 2)
    assert len(floor) == 2 and all(t > 0 for t in floor)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as connection:
        counts = dict(
            connection.exec_driver_sql(
                "SELECT o.code, sum(b.line_count) FROM spend_block b JOIN organization o ON o.id = b.organization_id "
                "WHERE o.code IN ('CLI', 'SRV', 'RSS') GROUP BY o.code"
            ).all()
        )
    engine.dispose()
    assert counts == {"CLI": TINY.spend_lines, "SRV": TINY.spend_lines, "RSS": TINY.spend_lines}
    with pytest.raises(RuntimeError, match="failed"):  # the same file again: the harness says the import failed
        harness.cli_import(url, workdir, whole, "CLI")


def test_ten_files_in_a_row_are_all_imported_and_their_trend_reported(loaded):
    import sqlalchemy as sa

    url, workdir = loaded
    figure = harness.ten_files_figure(url, "sqlite", workdir, workdir / "files", TINY.spend_lines, 1)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        stored = connection.exec_driver_sql(
            "SELECT sum(b.line_count), count(DISTINCT b.import_id) FROM spend_block b "
            "JOIN organization o ON o.id = b.organization_id WHERE o.code = 'TEN00'"
        ).one()
    engine.dispose()
    assert tuple(stored) == (TINY.spend_lines, 10)  # the ten parts make the whole file, one import each
    assert len(figure.runs) == dataset.PARTS == 10 and all(t > 0 for t in figure.runs)
    assert len(figure.extra["rows"]) == 1 and len(figure.extra["per_file_cpu_seconds"]) == 10
    assert figure.extra["trend"] == harness._trend(figure.runs)
    assert "last 3 files / first 3" in figure.note and "trend over the 10 files" in figure.note


def test_the_trend_of_a_row_of_files_is_its_least_squares_growth_and_ignores_one_slow_file():
    assert harness._trend([2.0] * 10) == pytest.approx(0)
    # 1.0, 1.1 ... 1.9: 0.9 s more from the first to the last, on a mean of 1.45 s
    assert harness._trend([1 + n / 10 for n in range(10)]) == pytest.approx(0.9 / 1.45)
    assert harness._trend([2 - n / 10 for n in range(10)]) == pytest.approx(-0.9 / 1.55)
    one_slow_last = [1.0] * 9 + [2.0]
    assert harness._tail_over_head(one_slow_last) == pytest.approx(1.0)  # where last / first would say 2
    assert harness._tail_over_head([1.0, 1.0, 1.0, 1.2, 1.2, 1.2, 1.2, 1.5, 1.5, 1.5]) == pytest.approx(1.5)


def test_the_database_write_floor_copies_an_imports_blocks_and_keeps_none(loaded):
    import sqlalchemy as sa

    url, workdir = loaded
    harness.add_organizations(url, ["FLR"])
    whole = workdir / "files" / "spend" / "all.csv"
    harness.cli_import(url, workdir, whole, "FLR")
    engine = sa.create_engine(url)
    count = "SELECT count(*) FROM spend_block"
    with engine.connect() as connection:
        before = connection.exec_driver_sql(count).scalar_one()
    figure = harness.database_write_figure(url, "sqlite", whole, TINY.spend_lines, 1)
    with engine.connect() as connection:
        after = connection.exec_driver_sql(count).scalar_one()
    engine.dispose()
    assert after == before  # rolled back
    assert len(figure.runs) == 3 and all(t > 0 for t in figure.runs) and figure.ratio is not None
    with pytest.raises(sa.exc.NoResultFound):  # no import of that many lines: nothing to copy, said at once
        harness.database_write_floor(url, TINY.spend_lines + 1)


def test_the_apis_answer_over_http_beside_their_group_by_floor(loaded):
    url, workdir = loaded
    with harness.server(url, workdir) as base:
        figures = harness.measure_apis(url, "sqlite", base, runs=1)
    names = [name for name, *_ in harness.APIS]
    assert [f.name for f in figures] == [
        label for name in names for label in (name, f"{name}, first answer after a data change")
    ]
    for figure in figures:
        assert len(figure.runs) == 1 and len(figure.floor_runs) == 1
        assert figure.ratio is not None and figure.extra["bytes"] > 0


@pytest.mark.parametrize("touch,topic", [(harness.TOUCH_NEEDS, "needs"), (harness.TOUCH_SPEND, "spend")])
def test_a_figure_after_a_data_change_follows_a_write_that_gives_its_topic_a_new_token(loaded, touch, topic):
    """The write the harness makes before each such request fires the triggers, so the server cannot answer from
    what it remembers."""
    import sqlalchemy as sa

    url, _ = loaded
    engine = sa.create_engine(url)

    def token() -> str:
        with engine.connect() as connection:
            statement = sa.text("SELECT token FROM data_version WHERE topic = :topic")
            return connection.execute(statement, {"topic": topic}).scalar()

    seen = []
    before = token()
    times = harness.after_a_change(url, touch, lambda: seen.append(token()), 2)
    engine.dispose()
    assert len(times) == 2 and len({before, *seen}) == 3  # a new token before each request


def test_the_groups_statements_are_counted_and_the_report_is_written(loaded):
    url, workdir = loaded
    figure = harness.measure_groups_statements(url, "sqlite", workdir)
    assert figure.extra["groups"] == TINY.calls and figure.extra["statements"] > 0
    assert figure.extra["items"] == TINY.calls
    report = {
        "started_at": "2026-11-29T00:00:00+00:00",
        "scale": "tiny",
        "counts": "",
        "runs": 1,
        "load_seconds": 0,
        "code": harness.code_version(),
        "machine": harness.machine(),
        "figures": [figure.as_dict(), harness.Figure("x", "sqlite", [0.2, 0.1, 0.3], "f", [0.1]).as_dict()],
        "errors": [],
    }
    json.dumps(report, default=str)
    text = harness.markdown({**report, "notes": ["measured in two runs"]})
    assert "\nNote: measured in two runs" in text
    assert "| sqlite | GET /api/v1/groups, SQL statements |" in text
    assert "| sqlite | x | 200 ms (100 ms–300 ms) | f | 100 ms | 2.0× |" in text
    assert report["machine"]["cores"] >= 1 and report["machine"]["sqlite"]
    git = shutil.which("git")
    head = git and subprocess.run([git, "rev-parse", "--short=12", "HEAD"], cwd=harness.ROOT, capture_output=True)  # noqa: S603
    if head and head.returncode == 0:  # a git checkout: the report names the commit measured
        assert report["code"].startswith(head.stdout.decode().strip())
    assert f"Code: {report['code']}. Machine: " in text


def test_a_page_measurement_has_a_server_of_its_own_stopped_when_it_ends(loaded):
    url, workdir = loaded
    with harness.isolated_server(url, workdir, workers=1) as base:
        status, _ = harness.http("GET", f"{base}/health")
        assert status == 200
    with pytest.raises(OSError):  # stopped at once: nothing left to answer (or to queue) on its port
        harness.urllib.request.urlopen(f"{base}/health", timeout=2)  # noqa: S310


def test_the_steps_measured_are_chosen_and_an_unknown_step_is_refused():
    with pytest.raises(SystemExit) as refused:
        harness.main(["--only", "imports,pagez"])
    assert refused.value.code == 2


def test_pages_under_writes_run_the_write_while_the_load_runs(loaded):
    """The writer of the pages measured under writes changes the needs' token again and again, then stops."""
    import time

    import sqlalchemy as sa

    url, _ = loaded
    engine = sa.create_engine(url)

    def token() -> str:
        with engine.connect() as connection:
            return connection.exec_driver_sql("SELECT token FROM data_version WHERE topic = 'needs'").scalar()

    before = token()
    with harness.writing(url, harness.TOUCH_NEEDS, 0.05) as writes:
        time.sleep(0.5)
    after, count = token(), writes[0]
    time.sleep(0.2)
    assert count >= 2 and after != before
    assert token() == after and writes[0] == count  # stopped with the block
    engine.dispose()
