"""Grants: the Lambda access the trigger definer needs, and the drain's table rights.

Run as the admin user. The server's :class:`~infra.database.dialects.GrantDialect`
decides the statements (:mod:`infra.database.dialects` for Aurora v3 and v2; a server
that only imitates Aurora registers a detector that supplies its own, see
:func:`register_server_detector`).

The account must exist exactly as ``'user'@'host'``: MySQL matches a connection to one
account row, and a grant to ``'app'@'%'`` does nothing for ``'app'@'10.0.%'``.

Two accounts, never one: the migration account defines the triggers (DDL and the Lambda
grant above); the drain's runtime account only reads and inserts the rows of the tables
it writes, its conflicts table included (``sql/grants/drain_writes.sql``), so its leaked
credentials can neither drop a trigger nor invoke a function. The outbox trigger's shared
doorbell (text 3) is a user-level lock, which needs no privilege: the definer needs nothing
more for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pymysql

import sql
from functions.common.outbox_table import HOLD_COUNTER_TABLE, OUTBOX_TABLE
from functions.common.resources import RESOURCES
from functions.drain.rows import CONFLICTS_TABLE
from infra.database.dialects import (
    AURORA_DIALECTS,
    LAMBDA_ROLE,
    GrantDialect,
    LambdaAccess,
    account_literal,
    grantee,
    has_invoke_lambda,
)
from infra.database.statements import execute_all, fetch_all, fetch_value
from sql import quote_identifier, quote_string

__all__ = [
    "LAMBDA_ROLE",
    "AccountNotFound",
    "GrantError",
    "LambdaAccess",
    "Server",
    "account_literal",
    "has_invoke_lambda",
]


class GrantError(RuntimeError):
    """The grant cannot be made or checked; the message says why."""


class AccountNotFound(GrantError):
    """No account matches ``'user'@'host'`` exactly."""


@dataclass(frozen=True)
class Server:
    """What the admin connection talks to, as far as the Lambda grant is concerned."""

    dialect: GrantDialect
    version: str  # @@aurora_version, or VERSION() for an imitation

    @property
    def aurora_major(self) -> int:
        return self.dialect.aurora_major

    @property
    def emulated(self) -> bool:
        return self.dialect.emulated

    def describe(self) -> str:
        return self.dialect.describe(self.version)


# A detector is given a server that is not Aurora and its VERSION(): it answers the
# Server when it recognises an imitation of Aurora, None when the server is not its kind,
# and raises GrantError when it is its kind but unusable.
ServerDetector = Callable[[pymysql.connections.Connection, str], Server | None]
_detectors: list[ServerDetector] = []


def register_server_detector(detector: ServerDetector) -> None:
    """Let :func:`detect_server` recognise another kind of server (once per detector)."""
    if detector not in _detectors:
        _detectors.append(detector)


def parse_account(text: str) -> tuple[str, str]:
    """Split ``user@host`` (host defaults to ``%``); quotes around either part are dropped."""
    user, _, host = text.rpartition("@") if "@" in text else (text, "", "%")
    user, host = user.strip().strip("'`\""), host.strip().strip("'`\"")
    if not user:
        raise GrantError(f"expected an account as user@host, got {text!r}")
    return user, host or "%"


def aurora_major_from_version(aurora_version: str) -> int:
    """2 or 3 from ``@@aurora_version`` (``3.05.2``, ``2.11.2``)."""
    major = aurora_version.strip().split(".", 1)[0]
    if major not in ("2", "3"):
        raise GrantError(f"unsupported Aurora MySQL version {aurora_version!r} (need 2.x or 3.x)")
    return int(major)


def aurora_version(connection: pymysql.connections.Connection) -> str | None:
    """``@@aurora_version``, or None when the server is not Aurora MySQL."""
    try:
        return str(fetch_value(connection, "server/aurora_version.sql"))
    except pymysql.err.OperationalError:  # 1193 unknown system variable: not Aurora
        return None


def detect_server(connection: pymysql.connections.Connection) -> Server:
    """Aurora v3, Aurora v2, or a registered imitation; :class:`GrantError` otherwise."""
    version = aurora_version(connection)
    if version is not None:
        return Server(AURORA_DIALECTS[aurora_major_from_version(version)], version)
    version = str(fetch_value(connection, "server/version.sql"))
    for detector in _detectors:
        server = detector(connection, version)
        if server is not None:
            return server
    raise GrantError(
        f"this server ({version}) is neither Aurora MySQL nor MariaDB: "
        "lambda_async exists only on Aurora (and in the local emulation on MariaDB)"
    )


def grant_statements(server: Server, user: str, host: str) -> list[str]:
    """The statements that give ``user@host`` Lambda access on ``server``, rendered."""
    return server.dialect.grant_statements(user, host)


def default_role_statements(server: Server, user: str, host: str) -> list[str]:
    """Only the statement that makes the role a default role (v3 and its emulation)."""
    return [
        statement
        for statement in grant_statements(server, user, host)
        if statement.upper().startswith("SET DEFAULT ROLE")
    ]


def account_hosts(
    connection: pymysql.connections.Connection, server: Server, user: str
) -> list[str]:
    """The hosts of every account named ``user`` (roles excluded), sorted."""
    return server.dialect.account_hosts(connection, user)


def missing_account_message(user: str, host: str, hosts: Iterable[str]) -> str:
    """Why ``user@host`` matches no account, naming the accounts ``user`` does have."""
    hosts = list(hosts)
    wanted = account_literal(user, host)
    if not hosts:
        return f"no account {wanted} on this server, and no account named {quote_string(user)}"
    existing = ", ".join(account_literal(user, h) for h in hosts)
    return (
        f"no account {wanted} on this server; the accounts named {quote_string(user)}: {existing}"
    )


def find_account(connection, server: Server, user: str, host: str) -> None:
    """Raise :class:`AccountNotFound` unless ``user@host`` exists exactly."""
    hosts = account_hosts(connection, server, user)
    # Host names compare case-insensitively in MySQL's account matching; user names do not.
    if host.lower() not in (h.lower() for h in hosts):
        raise AccountNotFound(missing_account_message(user, host, hosts))


def lambda_access(
    connection: pymysql.connections.Connection, server: Server, user: str, host: str
) -> LambdaAccess:
    """What ``user@host`` holds: the role or privilege, and whether it is active."""
    return server.dialect.lambda_access(connection, user, host)


def grant_lambda_access(
    connection: pymysql.connections.Connection, user: str, host: str
) -> tuple[Server, list[str]]:
    """Give ``user@host`` Lambda access; return the server and the statements run."""
    server = detect_server(connection)
    find_account(connection, server, user, host)
    statements = grant_statements(server, user, host)
    execute_all(connection, statements)
    return server, statements


# -- the drain's runtime account --------------------------------------------------------


def drain_tables() -> list[str]:
    """The tables the drain writes: one per resource of the ingest API, and the table of
    idempotency conflicts (migration 0007)."""
    return [resource.table for resource in RESOURCES] + [CONFLICTS_TABLE]


def table_grant_statements(
    template: str, database: str, tables: list[str], user: str, host: str
) -> list[str]:
    """``template`` (a ``sql/grants/`` file) for each of ``tables``, to ``user@host``."""
    account = account_literal(user, host)
    return [
        statement
        for table in tables
        for statement in sql.render(
            template,
            table=f"{quote_identifier(database)}.{quote_identifier(table)}",
            account=account,
        )
    ]


def drain_grant_statements(database: str, user: str, host: str) -> list[str]:
    """The statements that let ``user@host`` write the drain's rows in ``database``."""
    return table_grant_statements("grants/drain_writes.sql", database, drain_tables(), user, host)


def relay_grant_statements(
    database: str, user: str, host: str, hold_counter: bool = False
) -> list[str]:
    """The statements that let ``user@host`` work the outbox of ``database`` (and its hold
    counter, revision 0010's, when ``hold_counter``)."""
    statements = table_grant_statements(
        "grants/relay_outbox.sql", database, [OUTBOX_TABLE], user, host
    )
    if hold_counter:
        statements += hold_counter_grant_statements(database, user, host)
    return statements


def hold_counter_grant_statements(database: str, user: str, host: str) -> list[str]:
    """The statements that let ``user@host`` use the outbox's hold counter in ``database``."""
    return table_grant_statements(
        "grants/relay_hold_counter.sql", database, [HOLD_COUNTER_TABLE], user, host
    )


RELAY_PRIVILEGES = ("SELECT", "UPDATE", "DELETE")  # what grants/relay_outbox.sql gives
HOLD_COUNTER_PRIVILEGES = ("SELECT", "UPDATE")  # what grants/relay_hold_counter.sql gives


def tables_present(connection: pymysql.connections.Connection, database: str) -> set[str]:
    """The names of the tables in ``database``."""
    return {name for (name,) in fetch_all(connection, "grants/tables_present.sql", database)}


def outbox_exists(connection: pymysql.connections.Connection, database: str) -> bool:
    """True once a migration has created the outbox table in ``database``."""
    return OUTBOX_TABLE in tables_present(connection, database)


def hold_counter_exists(connection: pymysql.connections.Connection, database: str) -> bool:
    """True once revision 0010 has created the outbox's hold counter in ``database``."""
    return HOLD_COUNTER_TABLE in tables_present(connection, database)


def missing_table_privileges(
    connection: pymysql.connections.Connection,
    user: str,
    host: str,
    database: str,
    table: str,
    wanted: Iterable[str],
) -> list[str]:
    """Which of ``wanted`` privileges on ``database.table`` ``user@host`` lacks (held
    globally, on the schema or on the table)."""
    account = grantee(user, host)
    rows = fetch_all(
        connection,
        "grants/table_privileges.sql",
        account,
        account,
        database,
        account,
        database,
        table,
    )
    held = {privilege.upper() for (privilege,) in rows}
    return [privilege for privilege in wanted if privilege not in held]


def missing_relay_privileges(
    connection: pymysql.connections.Connection, user: str, host: str, database: str
) -> list[str]:
    """The relay's privileges on the outbox of ``database`` that ``user@host`` lacks."""
    return missing_table_privileges(
        connection, user, host, database, OUTBOX_TABLE, RELAY_PRIVILEGES
    )


def missing_hold_counter_privileges(
    connection: pymysql.connections.Connection, user: str, host: str, database: str
) -> list[str]:
    """The relay's privileges on the hold counter of ``database`` (revision 0010's: ask
    :func:`hold_counter_exists` first) that ``user@host`` lacks."""
    return missing_table_privileges(
        connection, user, host, database, HOLD_COUNTER_TABLE, HOLD_COUNTER_PRIVILEGES
    )


DRAIN_PRIVILEGES = ("SELECT", "INSERT")  # what grants/drain_writes.sql gives


def missing_drain_privileges(
    connection: pymysql.connections.Connection, user: str, host: str, database: str
) -> dict[str, list[str]]:
    """``{table: privileges}`` of the drain's that ``user@host`` lacks in ``database``
    (only the tables with something missing)."""
    missing = {}
    for table in drain_tables():
        lacking = missing_table_privileges(
            connection, user, host, database, table, DRAIN_PRIVILEGES
        )
        if lacking:
            missing[table] = lacking
    return missing


def grant_drain_access(
    connection: pymysql.connections.Connection,
    user: str,
    host: str,
    database: str,
    definer: tuple[str, str] | None = None,
) -> list[str]:
    """Give the drain's account its table privileges in ``database``; return the statements.

    Refuses the triggers' definer (``definer``, when known) and an account that holds
    Lambda access: the runtime account must not be able to invoke functions.
    """
    statements = drain_grant_statements(database, user, host)
    _grant_runtime_account(
        connection, "drain", user, host, database, drain_tables(), statements, definer
    )
    return statements


def grant_relay_access(
    connection: pymysql.connections.Connection,
    user: str,
    host: str,
    database: str,
    definer: tuple[str, str] | None = None,
) -> list[str]:
    """Give the outbox relay's account its privileges on the outbox of ``database`` (after
    the migration that creates it) and on its hold counter (when revision 0010 created
    it), with the same refusals as the drain's."""
    hold_counter = hold_counter_exists(connection, database)
    statements = relay_grant_statements(database, user, host, hold_counter)
    tables = [OUTBOX_TABLE, HOLD_COUNTER_TABLE] if hold_counter else [OUTBOX_TABLE]
    _grant_runtime_account(connection, "relay", user, host, database, tables, statements, definer)
    return statements


def refuse_the_definer(whose: str, user: str, host: str, definer: tuple[str, str] | None) -> None:
    """:class:`GrantError` when a runtime account (``whose``: drain, relay) is the definer."""
    if definer is not None and (user, host.lower()) == (definer[0], definer[1].lower()):
        raise GrantError(
            f"the {whose}'s account {account_literal(user, host)} is the triggers' definer: "
            "use a separate account that can only do its own work"
        )


def _grant_runtime_account(
    connection, whose, user, host, database, tables, statements, definer
) -> None:
    """Check a runtime account (not the definer, no Lambda access, its tables exist),
    then run ``statements``."""
    account = account_literal(user, host)
    refuse_the_definer(whose, user, host, definer)
    server = detect_server(connection)
    find_account(connection, server, user, host)
    if lambda_access(connection, server, user, host).granted:
        raise GrantError(
            f"{account} holds Lambda access: the {whose}'s account must only do its own "
            "work (revoke it, or use another account)"
        )
    present = tables_present(connection, database)
    missing = [table for table in tables if table not in present]
    if missing:
        raise GrantError(
            f"table {database}.{missing[0]} does not exist: run the migrations "
            f"(alembic upgrade head) before granting the {whose}'s account"
        )
    execute_all(connection, statements)
