"""The emulation of Aurora's lambda_async / lambda_sync on a MariaDB server, and every
statement against its schema ``aurora_emulation``.

This is the one module that reads or writes ``aurora_emulation``: installing it, its
settings, the functions it knows, the calls it recorded (for the runtime, ``inspect`` and
the CLI) and the emulated v2 grant. The SQL is in ``sql/emulation/``, one statement or
object per file. Installing refuses Aurora (which has the real functions) and servers it
was not written for.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping

import pymysql

import sql
from functions.common.lambda_limits import EVENT_PAYLOAD_BYTES, REQUEST_RESPONSE_PAYLOAD_BYTES
from infra.database.statements import execute, execute_all, fetch_all, fetch_value, statement
from sql import quote_identifier, quote_string

MINIMUM_MARIADB = (10, 11)  # GRANT ... TO PUBLIC
EMULATED_AURORA_VERSIONS = (2, 3)
# The lambda_sync handshake's user-level locks, one pair per request: the caller holds
# "wait" while it waits; the runtime holds "done" once the answer is stored, until the
# caller has read it. Rendered into sql/emulation/invoke_sync.sql from here.
SYNC_WAIT_LOCK_PREFIX = "aurora_lambda_sync_wait:"
SYNC_DONE_LOCK_PREFIX = "aurora_lambda_sync_done:"
SYNC_ANSWER_PATIENCE_SECONDS = 60


class EmulationError(RuntimeError):
    """The emulation cannot be installed on this server."""


# -- installing ----------------------------------------------------------------------------


def is_aurora(connection: pymysql.connections.Connection) -> bool:
    """True when the server is Aurora MySQL (it has the ``aurora_version`` variable)."""
    try:
        fetch_value(connection, "server/aurora_version.sql")
    except pymysql.err.OperationalError:
        return False
    return True


def check_server_supported(connection: pymysql.connections.Connection) -> None:
    """Raise :class:`EmulationError` unless the server is a MariaDB we emulate on."""
    if is_aurora(connection):
        raise EmulationError(
            "this server is Aurora MySQL: it has the real lambda_async/lambda_sync; "
            "the emulation is for local servers only"
        )
    version = fetch_value(connection, "server/version.sql")
    match = re.match(r"(\d+)\.(\d+)", version)
    if "MariaDB" not in version or not match or tuple(map(int, match.groups())) < MINIMUM_MARIADB:
        raise EmulationError(
            f"the Aurora emulation needs MariaDB {'.'.join(map(str, MINIMUM_MARIADB))} or later; "
            f"this server is {version}"
        )


def install(
    admin: pymysql.connections.Connection,
    databases: Iterable[str] = (),
    functions: Mapping[str, str] | None = None,
) -> None:
    """Install the emulation, its functions in each of ``databases``, and register ``functions``.

    ``admin`` must be able to create schemas, roles and routines (root on the local
    server). ``functions`` maps deployed function names to ARNs: calls to any other
    function fail like Lambda's "function not found".
    """
    check_server_supported(admin)
    execute_all(admin, sql.render("emulation/native_lambda.sql", **payload_limit_values()))
    execute_all(
        admin,
        sql.render(
            "emulation/invoke_sync.sql",
            wait_lock_prefix=quote_string(SYNC_WAIT_LOCK_PREFIX),
            done_lock_prefix=quote_string(SYNC_DONE_LOCK_PREFIX),
        ),
    )
    _revoke_schema_wide_execute(admin)
    for database in databases:
        install_lambda_functions(admin, database)
    if functions:
        register_functions(admin, functions)


def payload_limit_values() -> dict[str, str]:
    """Lambda's payload limits, rendered into ``sql/emulation/native_lambda.sql``."""
    return {
        "event_payload_bytes": str(int(EVENT_PAYLOAD_BYTES)),
        "request_response_payload_bytes": str(int(REQUEST_RESPONSE_PAYLOAD_BYTES)),
    }


def install_lambda_functions(admin: pymysql.connections.Connection, database: str) -> None:
    """Create ``lambda_async`` / ``lambda_sync`` in ``database``."""
    execute_all(
        admin,
        sql.render(
            "emulation/lambda_functions.sql",
            database=quote_identifier(database),
            entry_token=quote_string(entry_token(admin)),
        ),
    )


def entry_token(admin: pymysql.connections.Connection) -> str:
    """The secret the entry points pass to the emulation (see native_lambda.sql)."""
    token = fetch_value(admin, "emulation/read_setting.sql", "entry_token")
    if token is None:
        raise EmulationError("the emulation is not installed: no entry token")
    return str(token)


def _revoke_schema_wide_execute(admin: pymysql.connections.Connection) -> None:
    try:
        execute(admin, "emulation/revoke_schema_execute.sql")
    except pymysql.err.OperationalError as error:
        if error.args[0] != 1141:  # "There is no such grant": the usual case
            raise


# -- settings and deployed functions --------------------------------------------------------


def register_functions(admin: pymysql.connections.Connection, functions: Mapping[str, str]) -> None:
    """Mark functions as deployed: ``{function_name: function_arn}``."""
    for name, arn in functions.items():
        execute(admin, "emulation/register_function.sql", name, arn)


def unregister_function(admin: pymysql.connections.Connection, name: str) -> None:
    """Mark a function as not deployed: calls to it fail like Lambda's 404."""
    execute(admin, "emulation/unregister_function.sql", name)


def set_emulated_aurora_version(admin: pymysql.connections.Connection, version: int) -> None:
    """Make the emulation check privileges as Aurora MySQL ``version`` (2 or 3) does.

    3 (the default): the caller needs the AWS_LAMBDA_ACCESS role, default or active.
    2: the caller needs the INVOKE LAMBDA privilege, a row in aurora_emulation.invoke_lambda_grants
    (``sql/emulation/grant_invoke_lambda.sql``; ``aurora-events grant`` writes it).
    The setting is server-wide: it applies to every database's lambda_async/lambda_sync.
    """
    if version not in EMULATED_AURORA_VERSIONS:
        raise EmulationError(f"Aurora MySQL major version must be 2 or 3, got {version!r}")
    execute(admin, "emulation/write_setting.sql", str(version), "emulated_aurora_version")


def emulated_aurora_version(connection: pymysql.connections.Connection) -> int:
    """The Aurora MySQL major version the emulation imitates (2 or 3).

    Raises ``pymysql.err.ProgrammingError`` (1146) when the emulation is not installed.
    """
    value = fetch_value(connection, "emulation/read_setting.sql", "emulated_aurora_version")
    return int(value) if value is not None else 3


def set_sync_timeout(admin: pymysql.connections.Connection, seconds: float) -> None:
    """How long ``lambda_sync`` waits for the runtime before failing like a network error."""
    execute(admin, "emulation/write_setting.sql", str(seconds), "sync_timeout_seconds")


# -- the emulated Aurora v2 privilege --------------------------------------------------------


def invoke_lambda_grant_statements(user: str, host: str) -> list[str]:
    """The emulated ``GRANT INVOKE LAMBDA ON *.* TO user@host``, rendered."""
    return sql.render(
        "emulation/grant_invoke_lambda.sql", user=quote_string(user), host=quote_string(host)
    )


def holds_invoke_lambda(connection: pymysql.connections.Connection, user: str, host: str) -> bool:
    """True when ``user@host`` holds the emulated INVOKE LAMBDA privilege."""
    return fetch_value(connection, "emulation/invoke_lambda_granted.sql", user, host) > 0


# -- Event calls (lambda_async), for the runtime ---------------------------------------------


def requeue_interrupted_calls(admin, function_names: Iterable[str]) -> None:
    """Calls of these functions left ``running`` by a runtime that stopped are due again."""
    execute(admin, "emulation/requeue_interrupted_calls.sql", tuple(function_names))


def due_event_calls(admin, function_names: Iterable[str]) -> tuple:
    """Due Event calls of these functions: ``(id, function_name, payload, attempts, status)``."""
    return fetch_all(admin, "emulation/due_event_calls.sql", tuple(function_names))


def claim_event_call(admin, call_id: int, status: str, lease_seconds: float) -> bool:
    """Lease a due call read with ``status``; False when another poller claimed it first."""
    claimed = execute(
        admin, "emulation/claim_event_call.sql", int(lease_seconds * 1_000_000), call_id, status
    )
    return claimed == 1


def retry_event_call_later(
    admin, call_id: int, attempts: int, delay_seconds: float, error: dict
) -> None:
    """A failed attempt with retries left: due again after ``delay_seconds``."""
    execute(
        admin,
        "emulation/retry_event_call.sql",
        attempts,
        int(delay_seconds * 1_000_000),
        json.dumps(error),
        call_id,
    )


def finish_event_call(
    admin, call_id: int, status: str, attempts: int, response=None, error=None
) -> None:
    """A call done: ``succeeded`` with the function's result, or ``failed`` with its error."""
    execute(
        admin,
        "emulation/finish_event_call.sql",
        status,
        attempts,
        None if response is None else json.dumps(response),
        None if error is None else json.dumps(error),
        call_id,
    )


# -- RequestResponse calls (lambda_sync), for the runtime -------------------------------------


def sync_requests(reader) -> tuple:
    """Waiting lambda_sync calls: ``(request_id, function_name, function_arn, payload,
    caller, database_name)``. ``reader`` must read uncommitted rows (see
    :func:`prepare_sync_reader`)."""
    return fetch_all(reader, "emulation/sync_requests.sql")


def prepare_sync_reader(connection: pymysql.connections.Connection) -> None:
    """Make ``connection`` see lambda_sync's requests, which are not committed while their
    statement waits: READ UNCOMMITTED for the session."""
    execute(connection, "emulation/read_uncommitted.sql")


def sync_lock_names(request_id: str) -> tuple[str, str]:
    """The handshake's ``(wait, done)`` lock names for one lambda_sync request."""
    return SYNC_WAIT_LOCK_PREFIX + request_id, SYNC_DONE_LOCK_PREFIX + request_id


def answer_sync_request(
    connection: pymysql.connections.Connection,
    request: tuple,
    result: object,
    error: dict | None,
) -> None:
    """Store the answer to a lambda_sync ``request`` (a row of :func:`sync_requests`),
    record the call, and signal "answered" until the caller has read the answer.

    ``connection`` is used for this answer only (it holds the "done" lock meanwhile).
    """
    request_id, function_name, function_arn, payload, caller, database = request
    answer = result if error is None else error
    execute(connection, "emulation/answer_sync_request.sql", request_id, json.dumps(answer))
    execute(
        connection,
        "emulation/record_sync_call.sql",
        function_arn,
        function_name,
        payload,
        caller,
        database,
        "succeeded" if error is None else "failed",
        json.dumps(result) if error is None else None,
        json.dumps(error) if error else None,
    )
    wait_lock, done_lock = sync_lock_names(request_id)
    fetch_value(connection, "emulation/take_lock.sql", done_lock)
    deadline = time.monotonic() + SYNC_ANSWER_PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if fetch_value(connection, "emulation/lock_holder.sql", wait_lock) is None:
            break
        time.sleep(0.005)
    fetch_value(connection, "emulation/release_lock.sql", done_lock)


# -- reading the record --------------------------------------------------------------------


def event_call_counts(admin, database: str | None = None) -> dict:
    """``{status: count}`` of recorded Event calls (optionally from one database only)."""
    return dict(fetch_all(admin, "emulation/event_call_counts.sql", database, database))


def recent_calls(admin, limit: int) -> tuple:
    """The latest ``limit`` calls, newest first: ``(id, type, function, status, attempts,
    invoked_at, payload (80 characters), error (120 characters))``."""
    return fetch_all(admin, "emulation/recent_calls.sql", limit)


def last_call_id(admin) -> int:
    """The id of the latest recorded call (0 before any): the start of a later count."""
    return int(fetch_value(admin, "emulation/last_call_id.sql"))


def completed_calls_since(admin, function_name: str, after_id: int) -> tuple:
    """``(status, completed_at)`` of each finished Event call to ``function_name`` with an
    id above ``after_id``, oldest call first (``completed_at``: UTC, naive)."""
    return fetch_all(admin, "emulation/completed_calls_since.sql", function_name, after_id)


def event_calls_from(admin, database: str) -> list[dict]:
    """Every recorded Event call made from ``database``, oldest first, as dicts."""
    with admin.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute(statement("emulation/event_calls_from.sql"), (database,))
        return list(cursor.fetchall())
