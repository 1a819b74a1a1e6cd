"""The database side of Aurora's Lambda access: the grant the trigger definer needs.

Run as the admin user. The server decides the statement:

* Aurora MySQL v3 (MySQL 8.0): the ``AWS_LAMBDA_ACCESS`` role, made a default role
  (``sql/grants/aurora_v3_lambda_access.sql``);
* Aurora MySQL v2 (MySQL 5.7): the ``INVOKE LAMBDA`` privilege
  (``sql/grants/aurora_v2_invoke_lambda.sql``);
* the local MariaDB emulation: the emulated role (``sql/grants/mariadb_lambda_access.sql``)
  or, when it imitates v2, the emulated privilege (``sql/grants/mariadb_v2_invoke_lambda.sql``).

The account must exist exactly as ``'user'@'host'``: MySQL matches a connection to one
account row, and a grant to ``'app'@'%'`` does nothing for ``'app'@'10.0.%'``.

Two accounts, never one: the migration account defines the triggers (DDL and the Lambda
grant above); the drain's runtime account only reads and inserts the rows of the tables
it writes (``sql/grants/drain_writes.sql``), so its leaked credentials can neither drop a
trigger nor invoke a function.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pymysql

import sql
from functions.common.resources import RESOURCES
from infra.local import emulation
from sql import quote_identifier, quote_string

LAMBDA_ROLE = "AWS_LAMBDA_ACCESS"


class GrantError(RuntimeError):
    """The grant cannot be made or checked; the message says why."""


class AccountNotFound(GrantError):
    """No account matches ``'user'@'host'`` exactly."""


@dataclass(frozen=True)
class Server:
    """What the admin connection talks to, as far as the Lambda grant is concerned."""

    aurora_major: int  # 2 or 3: real, or imitated by the emulation
    emulated: bool  # the local MariaDB with sql/emulation/native_lambda.sql
    version: str  # @@aurora_version, or VERSION() for the emulation

    def describe(self) -> str:
        if self.emulated:
            return f"MariaDB {self.version} emulating Aurora MySQL v{self.aurora_major}"
        return f"Aurora MySQL {self.version}"


@dataclass(frozen=True)
class LambdaAccess:
    """Whether an account can call lambda_async/lambda_sync (and so define triggers that do)."""

    granted: bool  # holds the role (v3) or the privilege (v2)
    active: bool  # the role is a default role, or all roles are activated at login (v3)


def account_literal(user: str, host: str) -> str:
    """``'user'@'host'``, each part quoted as a string literal."""
    return f"{quote_string(user)}@{quote_string(host)}"


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


def detect_server(connection: pymysql.connections.Connection) -> Server:
    """Aurora v3, Aurora v2, or the local MariaDB emulation; :class:`GrantError` otherwise."""
    with connection.cursor() as cursor:
        try:
            cursor.execute("SELECT @@aurora_version")
            aurora_version = str(cursor.fetchone()[0])
        except pymysql.err.OperationalError:  # 1193 unknown system variable: not Aurora
            aurora_version = None
        if aurora_version is not None:
            return Server(aurora_major_from_version(aurora_version), False, aurora_version)
        cursor.execute("SELECT VERSION()")
        version = str(cursor.fetchone()[0])
        if "MariaDB" not in version:
            raise GrantError(
                f"this server ({version}) is neither Aurora MySQL nor MariaDB: "
                "lambda_async exists only on Aurora (and in the local emulation on MariaDB)"
            )
    try:
        major = emulation.emulated_aurora_version(connection)
    except pymysql.err.ProgrammingError:  # 1146: the emulation is not installed
        raise GrantError(
            f"this server is MariaDB {version} without the Aurora emulation; install it: "
            "aurora-events emulation install --admin-url ... --database ..."
        ) from None
    return Server(major, True, version)


def grant_statements(server: Server, user: str, host: str) -> list[str]:
    """The statements that give ``user@host`` Lambda access on ``server``, rendered."""
    account = account_literal(user, host)
    if not server.emulated:
        name = (
            "grants/aurora_v3_lambda_access.sql"
            if server.aurora_major == 3
            else "grants/aurora_v2_invoke_lambda.sql"
        )
        return sql.render(name, account=account)
    if server.aurora_major == 3:
        return sql.render("grants/mariadb_lambda_access.sql", account=account)
    return sql.render(
        "grants/mariadb_v2_invoke_lambda.sql", user=quote_string(user), host=quote_string(host)
    )


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
    with connection.cursor() as cursor:
        if server.emulated:
            # MariaDB's mysql.user is a view over global_priv, which also holds roles.
            cursor.execute(
                "SELECT Host FROM mysql.global_priv WHERE User = %s "
                "AND COALESCE(JSON_VALUE(Priv, '$.is_role'), 'false') <> 'true'",
                (user,),
            )
        else:
            cursor.execute("SELECT Host FROM mysql.user WHERE User = %s", (user,))
        return sorted(str(host) for (host,) in cursor.fetchall())


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


def grant_lambda_access(
    connection: pymysql.connections.Connection, user: str, host: str
) -> tuple[Server, list[str]]:
    """Give ``user@host`` Lambda access; return the server and the statements run."""
    server = detect_server(connection)
    find_account(connection, server, user, host)
    statements = grant_statements(server, user, host)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return server, statements


# -- the drain's runtime account --------------------------------------------------------


def drain_tables() -> list[str]:
    """The tables the drain writes: one per resource of the ingest API."""
    return [resource.table for resource in RESOURCES]


def drain_grant_statements(database: str, user: str, host: str) -> list[str]:
    """The statements that let ``user@host`` write the drain's rows in ``database``."""
    account = account_literal(user, host)
    return [
        statement
        for table in drain_tables()
        for statement in sql.render(
            "grants/drain_writes.sql",
            table=f"{quote_identifier(database)}.{quote_identifier(table)}",
            account=account,
        )
    ]


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
    if definer is not None and (user, host.lower()) == (definer[0], definer[1].lower()):
        raise GrantError(
            f"the drain's account {account_literal(user, host)} is the triggers' definer: "
            "use a separate account that can only write rows"
        )
    server = detect_server(connection)
    find_account(connection, server, user, host)
    if lambda_access(connection, server, user, host).granted:
        raise GrantError(
            f"{account_literal(user, host)} holds Lambda access: the drain's account must "
            "only write rows (revoke it, or use another account)"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
            (database,),
        )
        present = {name for (name,) in cursor.fetchall()}
        missing = [table for table in drain_tables() if table not in present]
        if missing:
            raise GrantError(
                f"table {database}.{missing[0]} does not exist: run the migrations "
                "(alembic upgrade head) before granting the drain's account"
            )
        statements = drain_grant_statements(database, user, host)
        for statement in statements:
            cursor.execute(statement)
    return statements


# -- checking (the doctor) ---------------------------------------------------------------

_GLOBAL_GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON \*\.\* TO ", re.IGNORECASE)


def has_invoke_lambda(show_grants: Iterable[str]) -> bool:
    """True when ``SHOW GRANTS`` lines hold INVOKE LAMBDA on ``*.*`` (Aurora v2)."""
    for line in show_grants:
        match = _GLOBAL_GRANT.match(line.strip())
        if match:
            privileges = [p.strip().upper() for p in match["privileges"].split(",")]
            if "INVOKE LAMBDA" in privileges:
                return True
    return False


def lambda_access(
    connection: pymysql.connections.Connection, server: Server, user: str, host: str
) -> LambdaAccess:
    """What ``user@host`` holds: the role or privilege, and whether it is active."""
    with connection.cursor() as cursor:
        if server.emulated and server.aurora_major == 2:
            cursor.execute(
                "SELECT COUNT(*) FROM aurora_emulation.invoke_lambda_grants "
                "WHERE User = %s AND Host = %s",
                (user, host),
            )
            granted = cursor.fetchone()[0] > 0
            return LambdaAccess(granted, granted)
        if server.emulated:
            cursor.execute(
                "SELECT COUNT(*) FROM mysql.roles_mapping "
                "WHERE User = %s AND Host = %s AND Role = %s",
                (user, host, LAMBDA_ROLE),
            )
            granted = cursor.fetchone()[0] > 0
            cursor.execute(
                "SELECT COUNT(*) FROM mysql.global_priv WHERE User = %s AND Host = %s "
                "AND JSON_VALUE(Priv, '$.default_role') = %s",
                (user, host, LAMBDA_ROLE),
            )
            return LambdaAccess(granted, granted and cursor.fetchone()[0] > 0)
        if server.aurora_major == 2:
            cursor.execute("SHOW GRANTS FOR %s@%s", (user, host))
            granted = has_invoke_lambda(line for (line,) in cursor.fetchall())
            return LambdaAccess(granted, granted)
        # Aurora v3 (MySQL 8.0): role grants and default roles are in these two tables.
        cursor.execute(
            "SELECT COUNT(*) FROM mysql.role_edges "
            "WHERE FROM_USER = %s AND TO_USER = %s AND TO_HOST = %s",
            (LAMBDA_ROLE, user, host),
        )
        granted = cursor.fetchone()[0] > 0
        cursor.execute(
            "SELECT COUNT(*) FROM mysql.default_roles "
            "WHERE USER = %s AND HOST = %s AND DEFAULT_ROLE_USER = %s",
            (user, host, LAMBDA_ROLE),
        )
        is_default = cursor.fetchone()[0] > 0
        cursor.execute("SELECT @@activate_all_roles_on_login")
        all_active = str(cursor.fetchone()[0]) in ("1", "ON")
        return LambdaAccess(granted, granted and (is_default or all_active))
