"""The command line, as a user runs it: a background stack, and the demo."""

import os
import re
import shlex
import stat
import subprocess
import sys

import pymysql

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


def test_stack_start_status_stop(tmp_path):
    stack_dir = tmp_path / "stack"
    started = aurora_events("stack", "start", "--dir", str(stack_dir))
    try:
        assert started.returncode == 0, started.stderr
        pid = int((stack_dir / "stack.pid").read_text())
        # What is printed for reading hides the password; `stack env` is for eval.
        printed = exports_of(started.stdout)
        assert printed["DATABASE_URL"].startswith("mysql://app:****@127.0.0.1:")
        assert mode(stack_dir) == 0o700
        assert mode(stack_dir / "stack.env") == 0o600
        assert mode(tmp_path / "stack.log") == 0o600
        exports = exports_of(aurora_events("stack", "env", "--dir", str(stack_dir)).stdout)
        settings = parse_database_url(exports["DATABASE_URL"])
        assert settings.password and settings.password != "****"
        connection = pymysql.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password,
            database=settings.database,
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT lambda_async('aurora-events-notify', '{\"ping\": 1}')")

        def status_once_delivered():
            # `stack status` no longer loads moto, so it can run while the call is being
            # delivered ("running 1"): ask again until the call has succeeded.
            status = aurora_events("stack", "status", "--dir", str(stack_dir))
            assert status.returncode == 0, status.stderr
            assert "lambda_async calls:" in status.stdout
            assert settings.password not in status.stdout
            assert re.search(r"calls: (pending|running|succeeded) 1$", status.stdout, re.M)
            return "succeeded 1" in status.stdout

        wait_for(status_once_delivered, timeout=30, interval=0.2)
    finally:
        stopped = aurora_events("stack", "stop", "--dir", str(stack_dir))
    assert stopped.returncode == 0, stopped.stderr
    # "stopped" is said only once the stack's process has exited, not while it winds down.
    assert stopped.stdout == f"local stack stopped (pid {pid} exited); {stack_dir} removed\n"
    assert not process_running(pid)
    assert not stack_dir.exists()
    again = aurora_events("stack", "status", "--dir", str(stack_dir))
    assert again.returncode == 1 and "no local stack runs" in again.stdout


def test_commands_use_the_stack_whose_settings_the_shell_loaded(tmp_path):
    # eval "$(aurora-events stack env)" in one directory, then commands from another,
    # without --dir: they read that stack; --dir still wins.
    stack_dir = tmp_path / "stack"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    started = aurora_events("stack", "start", "--dir", str(stack_dir))
    try:
        assert started.returncode == 0, started.stderr
        exports = exports_of(aurora_events("stack", "env", "--dir", str(stack_dir)).stdout)
        assert exports["AURORA_EVENTS_STACK_DIR"] == str(stack_dir.resolve())
        settings = parse_database_url(exports["DATABASE_URL"])
        with (
            pymysql.connect(
                host=settings.host,
                port=settings.port,
                user=settings.user,
                password=settings.password,
                database=settings.database,
            ) as connection,
            connection.cursor() as cursor,
        ):
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
    finally:
        stopped = aurora_events("stack", "stop", "--dir", str(stack_dir))
    assert stopped.returncode == 0, stopped.stderr


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
