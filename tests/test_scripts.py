"""./scripts/test on a machine without Chromium: it installs it when it may (root with apt-get), otherwise runs the
other tests and says loudly that the browser tests were skipped; in CI a missing browser fails the run.

The script runs with a PATH that holds the system's commands except chromium and apt-get, plus stand-ins for
`id` (root or not) and `apt-get` (which records its calls); pytest only collects, so the checks stay quick."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_BIN = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin")
HIDDEN = {"chromium", "apt-get", "id"}
NOTICE = "BROWSER TESTS SKIPPED"
BROWSER_TESTS = "tests/browser/test_foundation_browser.py"
OTHER_TESTS = "tests/test_app.py"


def _command(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture(scope="module")
def system_bin(tmp_path_factory) -> Path:
    """The system's commands, less chromium, apt-get and id."""
    bin_dir = tmp_path_factory.mktemp("system-bin")
    for directory in map(Path, SYSTEM_BIN):
        for entry in directory.iterdir() if directory.is_dir() else ():
            if entry.name not in HIDDEN and not os.path.lexists(bin_dir / entry.name):
                (bin_dir / entry.name).symlink_to(entry)
    return bin_dir


@pytest.fixture
def machine(tmp_path, system_bin):
    """A PATH without Chromium; `as_root` and `apt_get` shape the rest. Returns a function running the script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    apt_log = tmp_path / "apt-get.log"

    def run(*args: str, as_root: bool, apt_get: str | None = None, **env: str) -> subprocess.CompletedProcess:
        uid = 0 if as_root else 1000
        _command(bin_dir, "id", f'[ "$1" = -u ] && {{ echo {uid}; exit 0; }}; exec /usr/bin/id "$@"')
        if apt_get is not None:
            _command(bin_dir, "apt-get", f'echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> {apt_log}\n{apt_get}')
        base = {
            k: v for k, v in os.environ.items() if k not in {"CI", "CHROMIUM_PATH", "DEBIAN_FRONTEND", "PYTEST_ADDOPTS"}
        }
        return subprocess.run(  # noqa: S603 - the project's own script
            [ROOT / "scripts" / "test", *args],
            env={**base, "PATH": f"{bin_dir}:{system_bin}", "PYTHON": sys.executable, **env},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )

    run.bin_dir = bin_dir
    run.apt_calls = lambda: apt_log.read_text().splitlines() if apt_log.exists() else []
    return run


def test_without_root_the_other_tests_run_and_the_skip_is_announced_before_and_after(machine):
    result = machine(
        "--co", "-q", "-m", "browser or not browser", BROWSER_TESTS, OTHER_TESTS, as_root=False, apt_get="exit 0"
    )
    output = result.stdout
    assert result.returncode == 0, output
    assert machine.apt_calls() == []  # not root: nothing installed
    first, last = output.index(NOTICE), output.rindex(NOTICE)
    tests = output.index(f"{OTHER_TESTS}::")
    assert first < output.index("Running the tests on") < tests < output.index("deselected") < last
    assert "needs root and apt-get" in output and "CHROMIUM_PATH" in output
    assert "tests/browser/" not in output[first:last]  # left out even under the caller's -m expression


def test_as_root_with_apt_get_chromium_is_installed_and_the_browser_tests_run(machine):
    chromium = machine.bin_dir / "chromium"
    install = f'[ "$1" = install ] && printf "#!/bin/sh\\n" > {chromium} && chmod +x {chromium}; exit 0'
    result = machine("--co", "-q", BROWSER_TESTS, as_root=True, apt_get=install)
    assert result.returncode == 0, result.stdout
    assert machine.apt_calls() == [
        "DEBIAN_FRONTEND=noninteractive update -qq",
        "DEBIAN_FRONTEND=noninteractive install -y -qq chromium",
    ]
    assert NOTICE not in result.stdout
    assert f"{BROWSER_TESTS}::" in result.stdout


def test_when_apt_get_fails_the_skip_is_announced_with_its_output(machine):
    result = machine(
        "--co", "-q", OTHER_TESTS, as_root=True, apt_get='echo "E: Unable to locate package chromium"; exit 100'
    )
    assert result.returncode == 0, result.stdout
    assert "E: Unable to locate package chromium" in result.stdout
    assert result.stdout.count(NOTICE) == 2 and "apt-get could not install it" in result.stdout


@pytest.mark.parametrize(
    ("chromium_path", "reason"),
    [(None, "needs root and apt-get"), ("/nowhere/chromium", "CHROMIUM_PATH=/nowhere/chromium is not an executable")],
)
def test_in_ci_a_missing_browser_fails_the_run(machine, chromium_path, reason):
    env = {"CI": "true"} | ({"CHROMIUM_PATH": chromium_path} if chromium_path else {})
    result = machine(OTHER_TESTS, as_root=False, **env)
    assert result.returncode == 1
    assert reason in result.stdout and "In CI (CI=true) they must" in result.stdout
    assert "Running the tests" not in result.stdout and NOTICE not in result.stdout
