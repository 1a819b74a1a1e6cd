"""Install the emulation of Aurora's lambda_async / lambda_sync on a MariaDB server.

The SQL is in ``sql/emulation/``. This refuses to run on Aurora (which has the real
functions) and on servers it was not written for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pymysql

import sql
from sql import quote_identifier, quote_string

MINIMUM_MARIADB = (10, 11)  # GRANT ... TO PUBLIC


class EmulationError(RuntimeError):
    """The emulation cannot be installed on this server."""


def is_aurora(connection: pymysql.connections.Connection) -> bool:
    """True when the server is Aurora MySQL (it has the ``aurora_version`` variable)."""
    with connection.cursor() as cursor:
        try:
            cursor.execute("SELECT @@aurora_version")
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
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()[0]
    match = re.match(r"(\d+)\.(\d+)", version)
    if "MariaDB" not in version or not match or tuple(map(int, match.groups())) < MINIMUM_MARIADB:
        raise EmulationError(
            f"the Aurora emulation needs MariaDB {'.'.join(map(str, MINIMUM_MARIADB))} or later; "
            f"this server is {version}"
        )


def execute_all(connection: pymysql.connections.Connection, statements: Iterable[str]) -> None:
    """Run statements one by one on ``connection``."""
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


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
    execute_all(admin, sql.render("emulation/native_lambda.sql"))
    _revoke_schema_wide_execute(admin)
    for database in databases:
        install_lambda_functions(admin, database)
    if functions:
        register_functions(admin, functions)


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
    with admin.cursor() as cursor:
        cursor.execute("SELECT value FROM aurora_emulation.settings WHERE name = 'entry_token'")
        row = cursor.fetchone()
    if row is None:
        raise EmulationError("the emulation is not installed: no entry token")
    return str(row[0])


def _revoke_schema_wide_execute(admin: pymysql.connections.Connection) -> None:
    """Installs before the entry token granted EXECUTE on the whole schema to PUBLIC, which
    let any account call the internals with a forged caller: take that grant back."""
    with admin.cursor() as cursor:
        try:
            cursor.execute("REVOKE EXECUTE ON aurora_emulation.* FROM PUBLIC")
        except pymysql.err.OperationalError as error:
            if error.args[0] != 1141:  # "There is no such grant": the usual case
                raise


def register_functions(admin: pymysql.connections.Connection, functions: Mapping[str, str]) -> None:
    """Mark functions as deployed: ``{function_name: function_arn}``."""
    with admin.cursor() as cursor:
        cursor.executemany(
            "REPLACE INTO aurora_emulation.functions (function_name, function_arn) VALUES (%s, %s)",
            list(functions.items()),
        )


EMULATED_AURORA_VERSIONS = (2, 3)


def set_emulated_aurora_version(admin: pymysql.connections.Connection, version: int) -> None:
    """Make the emulation check privileges as Aurora MySQL ``version`` (2 or 3) does.

    3 (the default): the caller needs the AWS_LAMBDA_ACCESS role, default or active.
    2: the caller needs the INVOKE LAMBDA privilege, a row in aurora_emulation.invoke_lambda_grants
    (``sql/grants/mariadb_v2_invoke_lambda.sql``; ``aurora-events grant`` writes it).
    The setting is server-wide: it applies to every database's lambda_async/lambda_sync.
    """
    if version not in EMULATED_AURORA_VERSIONS:
        raise EmulationError(f"Aurora MySQL major version must be 2 or 3, got {version!r}")
    with admin.cursor() as cursor:
        cursor.execute(
            "UPDATE aurora_emulation.settings SET value = %s WHERE name = %s",
            (str(version), "emulated_aurora_version"),
        )


def emulated_aurora_version(connection: pymysql.connections.Connection) -> int:
    """The Aurora MySQL major version the emulation imitates (2 or 3)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value FROM aurora_emulation.settings WHERE name = 'emulated_aurora_version'"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 3


def set_sync_timeout(admin: pymysql.connections.Connection, seconds: float) -> None:
    """How long ``lambda_sync`` waits for the runtime before failing like a network error."""
    with admin.cursor() as cursor:
        cursor.execute(
            "UPDATE aurora_emulation.settings SET value = %s WHERE name = 'sync_timeout_seconds'",
            (str(seconds),),
        )
