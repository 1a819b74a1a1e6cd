"""The command line, as a user runs it: a background stack, and the demo."""

import os
import shlex
import stat
import subprocess
import sys

import pymysql

from functions.common.database import parse_database_url


def aurora_events(*args, timeout=180):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
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
        status = aurora_events("stack", "status", "--dir", str(stack_dir))
        assert status.returncode == 0, status.stderr
        assert "lambda_async calls:" in status.stdout
        assert settings.password not in status.stdout
        assert "pending 1" in status.stdout or "succeeded 1" in status.stdout
    finally:
        stopped = aurora_events("stack", "stop", "--dir", str(stack_dir))
    assert stopped.returncode == 0, stopped.stderr
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
