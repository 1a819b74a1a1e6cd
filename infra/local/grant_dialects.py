"""The emulation's grant dialects: Aurora's Lambda access as the local MariaDB server
spells it, and the detector that tells :func:`infra.database.grants.detect_server` this
server is the emulation (registered by ``infra/local/__init__.py``).

* imitating v3: the emulated ``AWS_LAMBDA_ACCESS`` role, MariaDB's default role
  (``sql/grants/mariadb_lambda_access.sql``);
* imitating v2: the emulated ``INVOKE LAMBDA`` privilege, a row the emulation keeps
  (:func:`infra.local.emulation.invoke_lambda_grant_statements`).
"""

from __future__ import annotations

import pymysql

import sql
from infra.database.dialects import LAMBDA_ROLE, LambdaAccess, account_literal, sorted_hosts
from infra.database.grants import GrantError, Server
from infra.database.statements import fetch_all, fetch_value
from infra.local import emulation


class _EmulatedDialect:
    emulated = True
    aurora_major: int

    def describe(self, version: str) -> str:
        return f"MariaDB {version} emulating Aurora MySQL v{self.aurora_major}"

    def account_hosts(self, connection, user: str) -> list[str]:
        return sorted_hosts(fetch_all(connection, "grants/mariadb_account_hosts.sql", user))


class EmulatedV3(_EmulatedDialect):
    """The AWS_LAMBDA_ACCESS role, as MariaDB's default role."""

    aurora_major = 3

    def grant_statements(self, user: str, host: str) -> list[str]:
        return sql.render("grants/mariadb_lambda_access.sql", account=account_literal(user, host))

    def lambda_access(self, connection, user: str, host: str) -> LambdaAccess:
        granted = (
            fetch_value(connection, "grants/mariadb_role_granted.sql", user, host, LAMBDA_ROLE) > 0
        )
        is_default = (
            fetch_value(connection, "grants/mariadb_default_role.sql", user, host, LAMBDA_ROLE) > 0
        )
        return LambdaAccess(granted, granted and is_default)


class EmulatedV2(_EmulatedDialect):
    """The INVOKE LAMBDA privilege, which MariaDB lacks: a row in the emulation's table."""

    aurora_major = 2

    def grant_statements(self, user: str, host: str) -> list[str]:
        return emulation.invoke_lambda_grant_statements(user, host)

    def lambda_access(self, connection, user: str, host: str) -> LambdaAccess:
        granted = emulation.holds_invoke_lambda(connection, user, host)
        return LambdaAccess(granted, granted)


EMULATED_DIALECTS = {3: EmulatedV3(), 2: EmulatedV2()}


def detect_emulation(connection: pymysql.connections.Connection, version: str) -> Server | None:
    """The emulation's Server on a MariaDB server; None on any other server; a
    :class:`GrantError` on a MariaDB server without the emulation."""
    if "MariaDB" not in version:
        return None
    try:
        major = emulation.emulated_aurora_version(connection)
    except pymysql.err.ProgrammingError:  # 1146: the emulation is not installed
        raise GrantError(
            f"this server is MariaDB {version} without the Aurora emulation; install it: "
            "aurora-events emulation install --admin-url ... --database ..."
        ) from None
    return Server(EMULATED_DIALECTS[major], version)
