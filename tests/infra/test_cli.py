"""The command line, as a user runs it: a background stack (one, shared by the tests that
need one running), and the demo."""

import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from functions.common.database import parse_database_url
from infra.local.db_server import process_running
from tests.support import wait_for


def aurora_events(*args, timeout=180, exports=None, cwd=None):
    """Run the CLI as a user does; ``exports``: settings the shell loaded with eval."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**env, **(exports or {})},
        cwd=cwd,
    )


def exports_of(text: str) -> dict[str, str]:
    return {
        key: shlex.split(value)[0] if value else ""
        for key, _, value in (line[len("export ") :].partition("=") for line in text.splitlines())
    }


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def connect_as_app(exports: dict[str, str]) -> pymysql.connections.Connection:
    """A connection with the settings `stack env` gave (the app account)."""
    settings = parse_database_url(exports["DATABASE_URL"])
    return pymysql.connect(
        host=settings.host,
        port=settings.port,
        user=settings.user,
        password=settings.password,
        database=settings.database,
    )


# -- one background stack for the module -------------------------------------------------
# Starting a stack takes seconds (a server, moto, the deployment on it, the migrations): the
# tests below share one, started on first use. The stop test ends it; a test that runs
# after it (in another order) starts another.


@dataclass
class Started:
    """A stack `aurora-events stack start` launched: what it printed, and its settings."""

    dir: Path
    result: subprocess.CompletedProcess
    pid: int
    exports: dict[str, str]  # what `stack env` prints for eval


class BackgroundStacks:
    """The module's background stack: started when a test first needs one running."""

    def __init__(self, tmp_path_factory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.current: Started | None = None

    def running(self) -> Started:
        if self.current is None:
            stack_dir = self.tmp_path_factory.mktemp("background") / "stack"
            started = aurora_events("stack", "start", "--dir", str(stack_dir))
            assert started.returncode == 0, started.stderr
            pid = int((stack_dir / "stack.pid").read_text())
            exports = exports_of(aurora_events("stack", "env", "--dir", str(stack_dir)).stdout)
            self.current = Started(stack_dir, started, pid, exports)
        return self.current

    def stop(self) -> subprocess.CompletedProcess | None:
        """`aurora-events stack stop` of the running stack (None when none runs)."""
        if self.current is None:
            return None
        stopped = aurora_events("stack", "stop", "--dir", str(self.current.dir))
        self.current = None
        return stopped


@pytest.fixture(scope="module")
def background_stacks(tmp_path_factory):
    stacks = BackgroundStacks(tmp_path_factory)
    yield stacks
    stacks.stop()


@pytest.fixture
def background_stack(background_stacks) -> Started:
    return background_stacks.running()


def call_counts(stack_dir: Path, password: str) -> dict[str, int]:
    """`stack status`'s count of lambda_async calls by state (it must not show the
    password)."""
    status = aurora_events("stack", "status", "--dir", str(stack_dir))
    assert status.returncode == 0, status.stderr
    assert password not in status.stdout
    (line,) = [line for line in status.stdout.splitlines() if "lambda_async calls:" in line]
    counts = line.split("lambda_async calls: ", 1)[1]
    if counts == "none":
        return {}
    return {state: int(n) for state, n in (part.split(" ") for part in counts.split(", "))}


def test_stack_start_prints_the_settings_masked_and_keeps_its_files_private(background_stack):
    stack_dir, started = background_stack.dir, background_stack.result
    # What is printed for reading hides the password; `stack env` is for eval.
    printed = exports_of(started.stdout)
    assert printed["DATABASE_URL"].startswith("mysql://app:****@127.0.0.1:")
    assert mode(stack_dir) == 0o700
    assert mode(stack_dir / "stack.env") == 0o600
    assert mode(stack_dir.parent / "stack.log") == 0o600
    settings = parse_database_url(background_stack.exports["DATABASE_URL"])
    assert settings.password and settings.password != "****"


def settled_call_counts(stack_dir: Path, password: str) -> dict[str, int]:
    """:func:`call_counts` once no call is pending or running (earlier tests' delivered)."""

    def settled():
        counts = call_counts(stack_dir, password)
        return None if counts.keys() & {"pending", "running"} else (counts,)

    (counts,) = wait_for(settled, timeout=30, interval=0.2)
    return counts


def test_stack_status_counts_a_lambda_async_call_until_it_succeeded(background_stack):
    stack_dir = background_stack.dir
    password = parse_database_url(background_stack.exports["DATABASE_URL"]).password
    before = settled_call_counts(stack_dir, password)  # the stack is shared: count from here
    with connect_as_app(background_stack.exports) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT lambda_async('aurora-events-notify', '{\"ping\": 1}')")

    def status_once_delivered():
        # `stack status` no longer loads moto, so it can run while the call is being
        # delivered ("running 1"): ask again until the call has succeeded. One call more,
        # pending, running or succeeded, and no other count changed.
        counts = call_counts(stack_dir, password)
        changed = [s for s in counts.keys() | before.keys() if counts.get(s) != before.get(s)]
        assert len(changed) == 1, (before, counts)
        (state,) = changed
        assert state in ("pending", "running", "succeeded"), (before, counts)
        assert counts[state] == before.get(state, 0) + 1, (before, counts)
        return state == "succeeded"

    wait_for(status_once_delivered, timeout=30, interval=0.2)


def test_commands_use_the_stack_whose_settings_the_shell_loaded(background_stack, tmp_path):
    # eval "$(aurora-events stack env)" in one directory, then commands from another,
    # without --dir: they read that stack; --dir still wins.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exports = background_stack.exports
    assert exports["AURORA_EVENTS_STACK_DIR"] == str(background_stack.dir.resolve())
    with connect_as_app(exports) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT lambda_async('aurora-events-notify', '{\"loaded\": 1}')")

    calls = aurora_events("invocations", exports=exports, cwd=elsewhere)
    assert calls.returncode == 0, calls.stderr
    assert 'payload: {"loaded": 1}' in calls.stdout
    failures = aurora_events("tail", "failures", exports=exports, cwd=elsewhere)
    assert (failures.returncode, failures.stderr) == (0, "")
    for command in (["invocations"], ["tail", "failures"]):
        other = aurora_events(
            *command, "--dir", str(tmp_path / "none"), exports=exports, cwd=elsewhere
        )
        assert other.returncode == 2
        assert f"no local stack runs in {tmp_path / 'none'}" in other.stderr


def test_stack_stop_returns_once_the_process_exited_and_removed_the_stack(
    background_stack, background_stacks
):
    stack_dir, pid = background_stack.dir, background_stack.pid
    stopped = background_stacks.stop()
    assert stopped.returncode == 0, stopped.stderr
    # "stopped" is said only once the stack's process has exited, not while it winds down.
    assert stopped.stdout == f"local stack stopped (pid {pid} exited); {stack_dir} removed\n"
    assert not process_running(pid)
    assert not stack_dir.exists()
    again = aurora_events("stack", "status", "--dir", str(stack_dir))
    assert again.returncode == 1 and "no local stack runs" in again.stdout


def test_commands_that_need_a_stack_say_so(tmp_path):
    result = aurora_events("stack", "env", "--dir", str(tmp_path / "none"))
    assert result.returncode == 2
    assert "no local stack runs" in result.stderr


def test_the_demo_passes():
    result = aurora_events("demo", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "RESULT: every committed row delivered exactly once, intact" in result.stdout
    assert "row in table: no; SNS notifications for it: 1; emails: 1" in result.stdout
    assert "rows stored: 50; distinct keys: 50; values intact: yes" in result.stdout
    assert "RESULT: every request stored exactly once, none lost during the outage" in result.stdout
    assert "every link checked is in place" in result.stdout
    assert "ok      grant        'app'@'%' holds AWS_LAMBDA_ACCESS, active" in result.stdout
