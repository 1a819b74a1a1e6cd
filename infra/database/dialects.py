"""Grant dialects: how a server spells the Lambda access a trigger's definer needs, and
how to read back whether an account holds it.

* Aurora MySQL v3 (MySQL 8.0): the ``AWS_LAMBDA_ACCESS`` role, made a default role
  (``sql/grants/aurora_v3_lambda_access.sql``);
* Aurora MySQL v2 (MySQL 5.7): the ``INVOKE LAMBDA`` privilege
  (``sql/grants/aurora_v2_invoke_lambda.sql``).

Other servers (the local emulation on MariaDB) bring their own :class:`GrantDialect`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import pymysql

import sql
from infra.database.statements import fetch_all, fetch_value
from sql import quote_string

LAMBDA_ROLE = "AWS_LAMBDA_ACCESS"


@dataclass(frozen=True)
class LambdaAccess:
    """Whether an account can call lambda_async/lambda_sync (and so define triggers that do)."""

    granted: bool  # holds the role (v3) or the privilege (v2)
    active: bool  # the role is a default role, or all roles are activated at login (v3)


class GrantDialect(Protocol):
    """One server's way of granting and reading Lambda access."""

    aurora_major: int  # 2 or 3: the Aurora MySQL version spoken, real or imitated
    emulated: bool  # an imitation of Aurora (its advice differs: no activate_all_roles_on_login)

    def describe(self, version: str) -> str:
        """The server, for people: ``Aurora MySQL 3.05.2``."""
        ...

    def grant_statements(self, user: str, host: str) -> list[str]:
        """The statements that give ``user@host`` Lambda access, rendered."""
        ...

    def lambda_access(
        self, connection: pymysql.connections.Connection, user: str, host: str
    ) -> LambdaAccess:
        """What ``user@host`` holds, and whether it is active."""
        ...

    def account_hosts(self, connection: pymysql.connections.Connection, user: str) -> list[str]:
        """The hosts of every account named ``user`` (roles excluded), sorted."""
        ...


def account_literal(user: str, host: str) -> str:
    """``'user'@'host'``, each part quoted as a string literal."""
    return f"{quote_string(user)}@{quote_string(host)}"


def grantee(user: str, host: str) -> str:
    """The account as information_schema's ``GRANTEE`` columns write it: ``'user'@'host'``
    with nothing escaped (a quote in the name stays single), unlike :func:`account_literal`."""
    return f"'{user}'@'{host}'"


def sorted_hosts(rows: Iterable[tuple]) -> list[str]:
    """Host names from ``(host,)`` rows, sorted."""
    return sorted(str(host) for (host,) in rows)


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


class _AuroraDialect:
    emulated = False

    def describe(self, version: str) -> str:
        return f"Aurora MySQL {version}"

    def account_hosts(self, connection, user: str) -> list[str]:
        return sorted_hosts(fetch_all(connection, "grants/account_hosts.sql", user))


class AuroraV3(_AuroraDialect):
    """Aurora MySQL v3 (MySQL 8.0): the AWS_LAMBDA_ACCESS role, as a default role."""

    aurora_major = 3

    def grant_statements(self, user: str, host: str) -> list[str]:
        return sql.render("grants/aurora_v3_lambda_access.sql", account=account_literal(user, host))

    def lambda_access(self, connection, user: str, host: str) -> LambdaAccess:
        granted = (
            fetch_value(connection, "grants/aurora_v3_role_granted.sql", LAMBDA_ROLE, user, host)
            > 0
        )
        is_default = (
            fetch_value(connection, "grants/aurora_v3_default_role.sql", user, host, LAMBDA_ROLE)
            > 0
        )
        all_active = str(fetch_value(connection, "grants/activate_all_roles_on_login.sql")) in (
            "1",
            "ON",
        )
        return LambdaAccess(granted, granted and (is_default or all_active))


class AuroraV2(_AuroraDialect):
    """Aurora MySQL v2 (MySQL 5.7): the INVOKE LAMBDA privilege (5.7 has no roles)."""

    aurora_major = 2

    def grant_statements(self, user: str, host: str) -> list[str]:
        return sql.render("grants/aurora_v2_invoke_lambda.sql", account=account_literal(user, host))

    def lambda_access(self, connection, user: str, host: str) -> LambdaAccess:
        rows = fetch_all(connection, "grants/show_grants.sql", user, host)
        granted = has_invoke_lambda(line for (line,) in rows)
        return LambdaAccess(granted, granted)


AURORA_DIALECTS: dict[int, GrantDialect] = {3: AuroraV3(), 2: AuroraV2()}
