"""``aurora-events``: the command-line entry point.

aurora-events stack start|stop|status|env   the local stack, in the background
aurora-events tail notifications|emails|failures
aurora-events invocations                   calls recorded by the emulated lambda_async
aurora-events queues                        ingest queue: waiting, in flight, dead letters
aurora-events replay [--limit N]            move dead letters back to the ingest queue
aurora-events outbox [replay]               the outbox: waiting, parked, delivered; replay
aurora-events emulation install             emulate Aurora's functions on a MariaDB server
aurora-events functions [--markdown|--diagram]  the catalog; or the deployed architecture
aurora-events deploy plan|apply|destroy     the event path on AWS (or on the stack's moto)
aurora-events aurora plan|apply|destroy     Aurora's access to Lambda (IAM, parameter, role)
aurora-events grant                         the database grant for the trigger definer
aurora-events doctor                        find the first broken link, and its fix
aurora-events demo                          what `make demo` runs
aurora-events --version                     the version (pyproject.toml's, the one place)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import infra.local  # noqa: F401  registers the emulation's grant dialects (grant, doctor)
from infra.aws.command_support import add_admin_url_argument, admin_url
from infra.local.db_server import (
    make_private_dir,
    process_running,
    read_root_password,
    write_private_file,
)
from infra.version import version

DEFAULT_STACK_DIR = Path(".stack")
# Exported by the stack (`eval "$(aurora-events stack env)"`): the commands that read a
# stack use the one whose settings the shell holds, unless --dir names another.
STACK_DIR_VARIABLE = "AURORA_EVENTS_STACK_DIR"
# A stop waits for the calls in flight (a handler may run up to its timeout) and for the
# database server's shutdown (SIGKILL after 30 s): about 4 s on a quiet machine, once more
# than 60 s on a loaded one.
STOP_TIMEOUT_SECONDS = 120


class CommandError(RuntimeError):
    """A command cannot do what was asked; the message says why."""


# -- stack -----------------------------------------------------------------------------


def read_stack_env(stack_dir: Path) -> dict[str, str]:
    env_file = stack_dir / "stack.env"
    if not env_file.is_file():
        raise CommandError(
            f"no local stack runs in {stack_dir} (start one: aurora-events stack start)"
        )
    values = {}
    for line in env_file.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            values[key] = shlex.split(value)[0] if value else ""
    return values


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*(@)")


def masked(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL shown as ****."""
    return _URL_PASSWORD.sub(r"\1****\2", text)


def default_stack_dir() -> Path:
    """The stack whose settings the environment holds, else ``.stack``."""
    return Path(os.environ.get(STACK_DIR_VARIABLE) or DEFAULT_STACK_DIR)


def stack_log(stack_dir: Path) -> Path:
    """The stack's start log, next to its directory: kept after stop, for post-mortems."""
    return stack_dir.parent / f"{stack_dir.name}.log"


def stack_pid(stack_dir: Path) -> int | None:
    """The pid of the stack that runs in ``stack_dir``, or None."""
    try:
        pid = int((stack_dir / "stack.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if process_running(pid) else None


def stack_start(args) -> int:
    stack_dir = args.dir.resolve()
    if stack_pid(stack_dir):
        print(f"a local stack already runs in {stack_dir}", file=sys.stderr)
        print(masked((stack_dir / "stack.env").read_text()), end="")
        return 0
    make_private_dir(stack_dir)
    log_path = stack_log(stack_dir)
    write_private_file(log_path, "")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.stack", "--dir", str(stack_dir)]
            + (["--tls"] if args.tls else [])
            + (
                ["--api-principal-header", args.api_principal_header]
                if args.api_principal_header
                else []
            ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command and the terminal's Ctrl-C
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"the stack exited with {process.returncode}; see {log_path}")
        if stack_pid(stack_dir) and (stack_dir / "stack.env").is_file():
            env_text = (stack_dir / "stack.env").read_text()
            print(masked(env_text), end="")
            print(f"# local stack running (pid {process.pid}); log: {log_path}", file=sys.stderr)
            print(
                f'# load these settings: eval "$(aurora-events stack env --dir {args.dir})"',
                file=sys.stderr,
            )
            return 0
        time.sleep(0.2)
    process.terminate()
    raise CommandError(f"the stack did not start within {args.timeout}s; see {log_path}")


def stack_stop(args) -> int:
    stack_dir = args.dir.resolve()
    pid = stack_pid(stack_dir)
    if pid is None:
        print(f"no local stack runs in {stack_dir}")
        return 0
    os.kill(pid, signal.SIGTERM)
    # The stack removes its directory before its process ends: wait for the process.
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process_running(pid):
        time.sleep(0.2)
    if process_running(pid):
        raise CommandError(
            f"the stack (pid {pid}) is still running {STOP_TIMEOUT_SECONDS}s after it was "
            f"asked to stop; see {stack_log(stack_dir)}"
        )
    print(f"local stack stopped (pid {pid} exited); {stack_dir} removed")
    return 0


def stack_env(args) -> int:
    """The settings as they are, passwords included: this output is for ``eval``."""
    read_stack_env(args.dir)  # a clear error when there is none
    print((args.dir / "stack.env").read_text(), end="")
    return 0


def _use_stack_env(stack_dir: Path) -> dict[str, str]:
    env = read_stack_env(stack_dir)
    os.environ.update(env)
    return env


def _stack_admin(stack_dir: Path, env: dict[str, str]):
    import pymysql

    from functions.common.database import SESSION_SQL_MODE

    return pymysql.connect(
        unix_socket=env["AURORA_EVENTS_ADMIN_SOCKET"],
        user="root",
        password=read_root_password(stack_dir / "mysql"),
        charset="utf8mb4",
        autocommit=True,
        sql_mode=SESSION_SQL_MODE,
    )


def stack_status(args) -> int:
    from infra.local import emulation

    pid = stack_pid(args.dir)
    if pid is None:
        print(f"no local stack runs in {args.dir.resolve()}")
        return 1
    env = _use_stack_env(args.dir)
    print(f"local stack running, pid {pid}")
    for key in ("DATABASE_URL", "AWS_ENDPOINT_URL"):
        print(f"  {key}={masked(env[key])}")
    admin = _stack_admin(args.dir, env)
    try:
        counts = emulation.event_call_counts(admin)
    finally:
        admin.close()
    print("  lambda_async calls: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    return 0


# -- inspection ------------------------------------------------------------------------


def tail(args) -> int:
    from infra.local import inspect

    env = _use_stack_env(args.dir)
    seen_emails = 0
    while True:
        if args.what == "notifications":
            for note in inspect.receive_notifications(env["AURORA_EVENTS_TAIL_QUEUE_URL"], 1):
                print(f"{note.subject}\n  {note.message}")
        elif args.what == "emails":
            emails = inspect.sent_emails(env["AWS_ENDPOINT_URL"])
            for email in emails[seen_emails:]:
                print(f"From {email['source']} to {', '.join(email['to'])}: {email['subject']}")
                print("  " + email["body"].replace("\n", "\n  "))
            seen_emails = len(emails)
            time.sleep(1)
        else:
            import boto3

            from infra.catalog import Deployment

            name = Deployment.from_env().resource_name("lambda-failures")
            url = boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
            for record in inspect.peek_failures(url):
                print(json.dumps(record, indent=2, ensure_ascii=False))
            return 0
        sys.stdout.flush()
        if args.once:
            return 0


def invocations(args) -> int:
    from infra.local import emulation

    env = _use_stack_env(args.dir)
    admin = _stack_admin(args.dir, env)
    try:
        rows = emulation.recent_calls(admin, args.limit)
    finally:
        admin.close()
    for row in reversed(rows):
        print(f"#{row[0]} {row[1]} {row[2]} {row[3]} attempts={row[4]} at {row[5]}")
        print(f"    payload: {row[6]}")
        if row[7]:
            print(f"    error: {row[7]}")
    return 0


def _deployment_for(args):
    """The local stack's deployment when one runs in --dir (its prefix; its endpoint for
    boto3); else the settings' (AWS)."""
    from dataclasses import replace

    from infra.catalog import Deployment

    deployment = args.settings.deployment
    if (args.dir / "stack.env").is_file():
        stack = Deployment.from_env(_use_stack_env(args.dir))
        deployment = replace(deployment, prefix=stack.prefix)
    return deployment


def queues(args) -> int:
    from infra.aws.queue_operations import queue_depths

    for depth in queue_depths(_deployment_for(args)):
        print(f"{depth.name:40} waiting {depth.visible:6}  in flight {depth.in_flight:6}")
    return 0


def replay(args) -> int:
    from infra.aws.queue_operations import replay_dead_letters

    moved = replay_dead_letters(_deployment_for(args), limit=args.limit)
    print(f"moved {moved} message(s) from the dead-letter queue back to the ingest queue")
    return 0


# -- outbox ----------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+)([smhd])$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_time(text: str, now=None) -> str:
    """``--since``: a UTC time (``2026-05-01T10:00:00``, a space for the ``T`` allowed) or a
    duration back from now (``30m``, ``2h``, ``1d``); as the outbox stores times (UTC)."""
    from datetime import UTC, datetime, timedelta

    duration = _DURATION.match(text.strip())
    if duration:
        now = now or datetime.now(UTC).replace(tzinfo=None)
        moment = now - timedelta(seconds=int(duration[1]) * _DURATION_SECONDS[duration[2]])
    else:
        try:
            moment = datetime.fromisoformat(text.strip().removesuffix("Z"))
        except ValueError:
            raise CommandError(
                f"--since {text!r}: give a UTC time (2026-05-01T10:00:00) or a duration "
                "back from now (30m, 2h, 1d)"
            ) from None
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _outbox_connection(args):
    """The database named by --database-url / DATABASE_URL (the migration account or the
    relay's: the outbox table is all it needs), with the TLS of DATABASE_TLS /
    DATABASE_TLS_CA; a connection refused (no TLS where it is required, a certificate
    not trusted) is a clear error, not a traceback."""
    import pymysql

    from functions.common.config import ConfigurationError
    from functions.common.database import connect, settings_from_url

    if not args.database_url:
        raise CommandError("give --database-url, or set DATABASE_URL (mysql://user:…@host/db)")
    try:
        settings = settings_from_url(args.database_url)
        return connect(settings)
    except ConfigurationError as error:
        raise CommandError(str(error)) from None
    except pymysql.err.OperationalError as error:
        raise CommandError(
            f"cannot connect to {settings.host}:{settings.port} "
            f"(TLS {'required' if settings.tls else 'not required'}): {error.args[-1]}"
        ) from None


def _outbox_call(args, call):
    """Run ``call(connection)``; a missing outbox table is a clear error, not a traceback."""
    import pymysql

    connection = _outbox_connection(args)
    try:
        return call(connection)
    except pymysql.err.ProgrammingError as error:
        if error.args[0] == 1146:  # no such table
            raise CommandError(
                f"no outbox in database {connection.db.decode()!r}: a revision with "
                "op.create_event_outbox() creates it (alembic upgrade head)"
            ) from None
        raise
    finally:
        connection.close()


def outbox(args) -> int:
    from infra.database.outbox_admin import outbox_status

    status = _outbox_call(args, outbox_status)
    oldest = status.oldest_waiting_seconds
    print(f"due now                   {status.due:8}")
    print(f"in flight / backing off   {status.in_flight_or_backing_off:8}")
    print(f"parked                    {status.parked:8}")
    print(f"delivered (kept)          {status.delivered:8}")
    print("oldest waiting            " + ("    none" if oldest is None else f"{oldest:8.1f} s"))
    if status.held_back is not None:
        # Counted among the waiting above (mostly as due): each waits for an earlier
        # event of its row to be delivered or parked.
        print(
            f"held behind their row     {status.held_back:8} "
            f"(in {status.held_rows} row(s); counted above)"
        )
    for line in parked_error_lines(status):
        print(line)
    if status.parked:
        print("parked events wait for: aurora-events outbox replay --since <time> --parked")
    return 0


# An error longer than this is cut in `outbox`'s lines (the table keeps 2,000 characters).
ERROR_SHOWN = 160


def parked_error_lines(status) -> list[str]:
    """The parked events' most common errors, one line each (how many, target, when it
    last parked one, the error on one line), and how many parked events have other
    errors; nothing when none is parked."""
    if not status.parked_errors:
        return []
    lines = ["parked, by error (events, target, last parked, error):"]
    for group in status.parked_errors:
        error = " ".join((group.error or "(no error recorded)").split())
        if len(error) > ERROR_SHOWN:
            error = error[: ERROR_SHOWN - 1] + "…"
        lines.append(
            f"{group.events:8}  {group.target_function}  "
            f"{group.newest_parked_at:%Y-%m-%d %H:%M:%S} UTC  {error}"
        )
    # Counted by a second statement: events parked in between may make it negative.
    others = status.parked - sum(group.events for group in status.parked_errors)
    if others > 0:
        lines.append(f"{others:8}  parked with other errors")
    return lines


def outbox_replay(args) -> int:
    from infra.database.outbox_admin import replay_events

    if bool(args.id) == bool(args.since):
        raise CommandError("outbox replay: give --id ID (repeatable) or --since TIME")
    if args.parked and args.id:
        raise CommandError("outbox replay: --parked goes with --since (--id names the events)")
    since = since_time(args.since) if args.since else None
    count = _outbox_call(
        args,
        lambda connection: replay_events(
            connection, event_ids=args.id or None, since=since, parked_only=args.parked
        ),
    )
    what = (
        f"of {len(args.id)} named"
        if args.id
        else f"{'parked ' if args.parked else ''}since {since} UTC"
    )
    print(f"{count} event(s) ({what}) due again; the relay sends them with the same event_id")
    return 0


def conflicts(args) -> int:
    """The idempotency conflicts the drain recorded, one line each, newest first."""
    import pymysql

    from functions.drain.rows import CONFLICTS_TABLE, recorded_conflicts

    connection = _outbox_connection(args)
    try:
        found = recorded_conflicts(connection, args.limit)
    except pymysql.err.ProgrammingError as error:
        if error.args[0] == 1146:  # no such table
            raise CommandError(
                f"no {CONFLICTS_TABLE} table in database {connection.db.decode()!r}: "
                "migration 0007 creates it (alembic upgrade head)"
            ) from None
        raise
    finally:
        connection.close()
    for conflict in found:
        print(conflict.line())
    if not found:
        print("no idempotency conflicts recorded")
    else:
        print(
            f"each is a request not stored: its stored key holds another body; its values "
            f"are in {CONFLICTS_TABLE}.data (resend it under a new Idempotency-Key)"
        )
    return 0


def emulation_install(args) -> int:
    from functions.common.database import connect, settings_from_url
    from infra.local import emulation

    admin = connect(settings_from_url(admin_url(args)))
    try:
        emulation.install(admin, args.database)
    finally:
        admin.close()
    print(f"emulated lambda_async/lambda_sync installed in: {', '.join(args.database) or '(none)'}")
    return 0


def functions_table(args) -> int:
    from infra.catalog import FUNCTIONS, functions_markdown

    if args.diagram:
        from infra.diagram import architecture

        print(architecture(args.settings.deployment))
    elif args.markdown:
        print(functions_markdown())
    else:
        for spec in FUNCTIONS:
            print(f"{spec.name:10} {spec.handler:40} timeout {spec.timeout_seconds}s")
    return 0


def demo(args) -> int:
    from infra.demo import main as demo_main

    return demo_main()


# -- parser ----------------------------------------------------------------------------


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="a TOML file of deployment settings")
    parser.add_argument("--profile", help="the AWS profile (credentials: boto3's chain only)")
    parser.add_argument("--region", help="the AWS region")


def build_parser(settings=None) -> argparse.ArgumentParser:
    """The parser; ``settings`` (default: the environment's) reach every command as
    ``args.settings``."""
    from infra.aws import commands as aws_commands
    from infra.aws.settings import resolve_settings

    settings = settings or resolve_settings({})
    parser = argparse.ArgumentParser(prog="aurora-events", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    add_settings_arguments(parser)
    parser.set_defaults(settings=settings)
    commands = parser.add_subparsers(dest="command", required=True)
    aws_commands.register(commands, settings)

    def with_dir(p):
        p.add_argument(
            "--dir",
            type=Path,
            default=default_stack_dir(),
            help=f"the stack's directory (default: ${STACK_DIR_VARIABLE}, else .stack)",
        )
        return p

    stack = commands.add_parser("stack", help="the local stack")
    stack_commands = stack.add_subparsers(dest="stack_command", required=True)
    start = with_dir(stack_commands.add_parser("start", help="start in the background"))
    start.add_argument("--timeout", type=float, default=120)
    start.add_argument(
        "--tls",
        action="store_true",
        help="the database serves TLS only (a CA of its own); its settings require it",
    )
    start.add_argument(
        "--api-principal-header",
        default="",
        metavar="HEADER",
        help="the API's caller is this header's value (e.g. X-Local-Principal), so that one "
        "shell can act as several callers; without it, requests are refused as unsigned",
    )
    start.set_defaults(run=stack_start)
    with_dir(stack_commands.add_parser("stop", help="stop and remove its data")).set_defaults(
        run=stack_stop
    )
    with_dir(stack_commands.add_parser("status", help="is it running; calls so far")).set_defaults(
        run=stack_status
    )
    with_dir(stack_commands.add_parser("env", help="print its settings as exports")).set_defaults(
        run=stack_env
    )

    tail_parser = with_dir(commands.add_parser("tail", help="show what was delivered"))
    tail_parser.add_argument("what", choices=("notifications", "emails", "failures"))
    tail_parser.add_argument("--once", action="store_true", help="print what is there and exit")
    tail_parser.set_defaults(run=tail)

    calls = with_dir(commands.add_parser("invocations", help="recorded lambda_async/sync calls"))
    calls.add_argument("--limit", type=int, default=20)
    calls.set_defaults(run=invocations)

    with_dir(commands.add_parser("queues", help="queue depths, in flight, DLQ")).set_defaults(
        run=queues
    )
    replay_parser = with_dir(commands.add_parser("replay", help="DLQ -> ingest queue"))
    replay_parser.add_argument("--limit", type=int, default=None, help="at most this many")
    replay_parser.set_defaults(run=replay)

    outbox_parser = commands.add_parser(
        "outbox",
        help="the outbox: due, in flight, parked, delivered, oldest waiting; parked errors",
    )
    outbox_commands = outbox_parser.add_subparsers(dest="outbox_command")
    replay_events_parser = outbox_commands.add_parser(
        "replay", help="make events due again (receivers deduplicate on event_id)"
    )
    for command in (outbox_parser, replay_events_parser):
        command.add_argument(
            "--database-url",
            default=os.environ.get("DATABASE_URL"),
            help="mysql://user:password@host:port/db (default: $DATABASE_URL)",
        )
    replay_events_parser.add_argument(
        "--id", action="append", default=[], metavar="EVENT_ID", help="an event (repeatable)"
    )
    replay_events_parser.add_argument(
        "--since", metavar="TIME", help="events written since: UTC time, or 30m / 2h / 1d ago"
    )
    replay_events_parser.add_argument(
        "--parked", action="store_true", help="with --since: only the parked events"
    )
    outbox_parser.set_defaults(run=outbox)
    replay_events_parser.set_defaults(run=outbox_replay)

    conflicts_parser = commands.add_parser(
        "conflicts",
        help="idempotency conflicts: requests not stored because their key holds another body",
    )
    conflicts_parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="mysql://user:password@host:port/db (default: $DATABASE_URL)",
    )
    conflicts_parser.add_argument("--limit", type=int, default=50, help="the newest N (50)")
    conflicts_parser.set_defaults(run=conflicts)

    emu = commands.add_parser("emulation", help="Aurora's native functions on a MariaDB server")
    emu_commands = emu.add_subparsers(dest="emulation_command", required=True)
    install = emu_commands.add_parser("install", help="install (never on Aurora)")
    add_admin_url_argument(install, "mysql://root:...@host:port/ of the server")
    install.add_argument(
        "--database",
        action="append",
        default=[],
        help="database to get lambda_async/lambda_sync (repeatable)",
    )
    install.set_defaults(run=emulation_install)

    functions_parser = commands.add_parser("functions", help="the catalog of functions")
    functions_parser.add_argument("--markdown", action="store_true", help="the README's table")
    functions_parser.add_argument(
        "--diagram", action="store_true", help="the deployed architecture, names from the catalog"
    )
    functions_parser.set_defaults(run=functions_table, settings=settings)

    commands.add_parser("demo", help="run the end-to-end demo").set_defaults(run=demo)
    return parser


def load_settings(argv: list[str] | None):
    """The settings (config file, then environment, then ``--profile``/``--region``), read
    before the command: they supply defaults of the commands' options."""
    from infra.aws.settings import SettingsError, load_config, resolve_settings
    from infra.catalog import SettingError

    early = argparse.ArgumentParser(add_help=False)
    add_settings_arguments(early)
    known, _ = early.parse_known_args(argv)
    try:
        config = load_config(known.config) if known.config else {}
        return resolve_settings(
            config, os.environ, {"profile": known.profile, "region": known.region}
        )
    except (SettingsError, SettingError) as error:
        raise CommandError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings(argv)
    except CommandError as error:
        print(f"aurora-events: {error}", file=sys.stderr)
        return 2
    settings.configure_boto3()
    args = build_parser(settings).parse_args(argv)
    try:
        return args.run(args)
    except CommandError as error:
        print(f"aurora-events: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
