"""Database connections from a URL or from a Secrets Manager secret.

The same code serves the drain function, the migrations, the local stack and the
infra scripts. Settings, first match wins:

* ``DATABASE_URL``: ``mysql://user:password@host:port/dbname`` (``mysql+pymysql://``
  is accepted too; ``?unix_socket=/path`` connects through a socket);
* ``DATABASE_SECRET_ID``: a Secrets Manager secret in the RDS format
  (``username``, ``password``, ``host``, ``port``, ``dbname``); ``DATABASE_HOST``
  overrides its host, for example with an RDS Proxy endpoint.

TLS, whichever of the two gave the rest (and for a URL given on a command line too,
:func:`settings_from_url`): ``DATABASE_TLS=true`` requires TLS and checks the server's
certificate and name, against the CA bundle ``DATABASE_TLS_CA`` names (on AWS the RDS
global bundle, for a connection straight to Aurora) or else the system's CAs (an RDS
Proxy's certificate is from ACM, under Amazon's root CAs). A CA given means TLS required.
Required means never plaintext: a server that offers no TLS is refused (error 2026).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pymysql

from functions.common.config import ConfigurationError

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class DatabaseSettings:
    """Where and how to connect; ``password`` is never printed by ``repr``."""

    host: str
    user: str
    password: str = ""
    database: str | None = None
    port: int = 3306
    unix_socket: str | None = None
    tls: bool = False  # TLS required, the certificate and host name checked
    tls_ca: str | None = None  # the CA bundle to check against (None: the system's CAs)

    def __repr__(self) -> str:
        return (
            f"DatabaseSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"database={self.database!r}, unix_socket={self.unix_socket!r}, tls={self.tls!r}, "
            f"tls_ca={self.tls_ca!r})"
        )

    def url(self, driver: str = "mysql+pymysql") -> str:
        """Render as a URL (SQLAlchemy form by default)."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        url = f"{driver}://{auth}@{self.host}:{self.port}/{self.database or ''}"
        url += "?charset=utf8mb4"
        if self.unix_socket:
            url += "&unix_socket=" + quote(self.unix_socket)
        return url


def parse_database_url(url: str) -> DatabaseSettings:
    """Parse ``mysql://`` / ``mysql+pymysql://`` URLs into settings."""
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"):
        raise ConfigurationError(
            f"database URL must start with mysql:// or mysql+pymysql://, got {parts.scheme!r}://"
        )
    if not parts.hostname or not parts.username:
        raise ConfigurationError("database URL needs a user and a host: mysql://user@host/db")
    query = parse_qs(parts.query)
    return DatabaseSettings(
        host=parts.hostname,
        port=parts.port or 3306,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/") or None,
        unix_socket=query.get("unix_socket", [None])[0],
    )


def settings_from_secret(secret_string: str) -> DatabaseSettings:
    """Build settings from an RDS-format secret's JSON text."""
    try:
        secret = json.loads(secret_string)
        return DatabaseSettings(
            host=secret["host"],
            port=int(secret.get("port", 3306)),
            user=secret["username"],
            password=secret["password"],
            database=secret.get("dbname"),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(
            "database secret must be JSON with username, password, host (and port, dbname); "
            f"problem: {error!r}"
        ) from None


_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


def tls_from_env(
    settings: DatabaseSettings, environ: Mapping[str, str] | None = None
) -> DatabaseSettings:
    """``settings`` with the TLS of ``DATABASE_TLS`` and ``DATABASE_TLS_CA`` (see module
    doc). A value that is neither true nor false, a CA file that does not exist, or a CA
    with ``DATABASE_TLS=false`` is a :class:`ConfigurationError`: a misspelt setting must
    not quietly mean plaintext."""
    environ = os.environ if environ is None else environ
    flag = environ.get("DATABASE_TLS", "").strip().lower()
    ca = environ.get("DATABASE_TLS_CA", "").strip() or None
    if flag not in _TRUE + _FALSE:
        raise ConfigurationError(f"DATABASE_TLS must be true or false, got {flag!r}")
    if ca is not None:
        if flag in ("false", "0", "no"):
            raise ConfigurationError("DATABASE_TLS_CA is set but DATABASE_TLS is false")
        if not os.path.isfile(ca):
            raise ConfigurationError(f"DATABASE_TLS_CA names no file: {ca}")
    if flag in _TRUE or ca is not None:
        return replace(settings, tls=True, tls_ca=ca)
    return settings


def settings_from_url(url: str, environ: Mapping[str, str] | None = None) -> DatabaseSettings:
    """A URL given outright (a command's ``--database-url``), with the environment's TLS."""
    return tls_from_env(parse_database_url(url), environ)


def settings_from_env(
    environ: Mapping[str, str] | None = None, secrets_client=None
) -> DatabaseSettings:
    """Resolve settings from ``DATABASE_URL`` or ``DATABASE_SECRET_ID``, TLS from
    ``DATABASE_TLS`` / ``DATABASE_TLS_CA`` (see module doc)."""
    environ = os.environ if environ is None else environ
    if environ.get("DATABASE_URL"):
        return settings_from_url(environ["DATABASE_URL"], environ)
    secret_id = environ.get("DATABASE_SECRET_ID")
    if not secret_id:
        raise ConfigurationError("set DATABASE_URL or DATABASE_SECRET_ID")
    if secrets_client is None:
        import boto3

        secrets_client = boto3.client("secretsmanager")
    secret = secrets_client.get_secret_value(SecretId=secret_id)["SecretString"]
    settings = settings_from_secret(secret)
    if environ.get("DATABASE_HOST"):
        settings = replace(settings, host=environ["DATABASE_HOST"])
    return tls_from_env(settings, environ)


# The sql_mode of every session this project opens. The meaning of SQL text depends on
# it (NO_BACKSLASH_ESCAPES changes what a backslash in a literal means, ANSI_QUOTES what
# "..." is), and a trigger keeps the mode of the session that created it: so it is
# pinned, never left to the server's global setting. MySQL 8.0's default without
# ONLY_FULL_GROUP_BY (which MariaDB's default lacks too); every flag exists on MySQL 5.7
# and 8.0 (Aurora v2 and v3) and on MariaDB 10.4+.
SESSION_SQL_MODE = (
    "STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)


@functools.lru_cache(maxsize=8)
def _tls_context(ca: str | None, ca_version: int | None = None) -> ssl.SSLContext:
    """Certificate and host name checked, against ``ca`` or the system's CAs. One per CA
    file (and its modification time: a file replaced is read again) and process: loading
    the system's CAs takes tens of milliseconds."""
    return ssl.create_default_context(cafile=ca)


def tls_options(settings: DatabaseSettings) -> dict:
    """PyMySQL's arguments for the settings' TLS (none when it is not required). An
    ``SSLContext`` makes PyMySQL require TLS: it refuses a server that offers none (2026)
    instead of falling back to plaintext, as it does when it only prefers TLS."""
    if not settings.tls:
        return {}
    ca = settings.tls_ca
    return {"ssl": _tls_context(ca, os.stat(ca).st_mtime_ns if ca else None)}


def connect(
    settings: DatabaseSettings,
    *,
    autocommit: bool = True,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    database: str | None = None,
    sql_mode: str = SESSION_SQL_MODE,
    **options,
) -> pymysql.connections.Connection:
    """Open a PyMySQL connection (utf8mb4, short connect timeout, ``sql_mode`` pinned; TLS
    required when the settings say so, :func:`tls_options`)."""
    options = {**tls_options(settings), **options}
    return pymysql.connect(
        host=settings.host,
        port=settings.port,
        user=settings.user,
        password=settings.password,
        database=database if database is not None else settings.database,
        unix_socket=settings.unix_socket,
        charset="utf8mb4",
        autocommit=autocommit,
        connect_timeout=connect_timeout,
        sql_mode=sql_mode,
        **options,
    )


# Errors that mean "the database cannot be reached or cannot take writes right now"
# (down, restarting, failing over, read-only replica, out of connections), as opposed to
# "this data cannot be written".
# 2026: TLS required and the server offers none (a proxy or host misconfigured).
UNAVAILABLE_ERROR_CODES = frozenset(
    {1040, 1053, 1290, 1836, 1927, 2002, 2003, 2005, 2006, 2013, 2026, 2055}
)

# Aurora's native Lambda call failed inside the statement (a trigger's lambda_async):
# 1873 "Lambda API returned error: ..." (function not found, network connection, missing
# credentials, throttling...). The local emulation raises the same code and texts.
LAMBDA_API_ERROR_CODE = 1873
# ...except this one, which a row's own values can cause (a trigger that builds its
# payload with CONCAT breaks on a quote): the same write fails again, so it is bad data.
LAMBDA_INVALID_PAYLOAD = "Lambda API returned error: Invalid Request Content."

# Privilege errors mean "misconfigured", never "bad data": whatever the row holds, the
# write is refused until someone fixes a grant, a role, a password or the network.
# 1227: no Invoke Lambda privilege (a lost grant, a role not active; also seen when the
# cluster's subnet has no route to Lambda); 1142/1143: table/column command denied;
# 1044/1045: access denied to the database / for the user; 1370: execute command denied
# on a routine (such as the emulated lambda_async).
PRIVILEGE_ERROR_CODES = frozenset({1044, 1045, 1142, 1143, 1227, 1370})

# Lock conflicts with other transactions: 1205 lock wait timeout exceeded (another
# transaction held a row lock longer than innodb_lock_wait_timeout), 1213 deadlock (this
# transaction was chosen as the victim and rolled back). The same write goes through once
# the other transaction ends: never bad data.
LOCK_CONFLICT_ERROR_CODES = frozenset({1205, 1213})
# The drain's own statements name only declared columns and tables (functions/common/
# resources.py): a server without them runs an older schema (deployed before migrating).
SCHEMA_BEHIND_ERROR_CODES = frozenset({1054, 1146})


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` says the database is unavailable, not that the data is bad."""
    if isinstance(error, pymysql.err.InterfaceError):
        return True
    if isinstance(error, pymysql.err.OperationalError):
        return bool(error.args) and error.args[0] in UNAVAILABLE_ERROR_CODES
    return isinstance(error, OSError | TimeoutError)


# 1927 connection was killed, 2006 server has gone away, 2013 lost connection during
# query, 2055 lost connection (with a system error): this connection is dead; the server
# may well be up.
CONNECTION_LOST_ERROR_CODES = frozenset({1927, 2006, 2013, 2055})


def is_connection_lost(error: BaseException) -> bool:
    """True when ``error`` says this connection is dead (a new one may work)."""
    if isinstance(error, pymysql.err.InterfaceError | ConnectionError):
        return True
    if isinstance(error, pymysql.err.OperationalError):
        return bool(error.args) and error.args[0] in CONNECTION_LOST_ERROR_CODES
    return False


def is_retryable_later(error: BaseException) -> bool:
    """True when the same write can succeed later, unchanged: the error is about the
    database or its setup, not about the data. The classes:

    * unavailable (:func:`is_unavailable`): down, restarting, failing over, read-only,
      out of connections, connection lost or refused;
    * a trigger's Lambda call failed: error 1873 ``Lambda API returned error: ...``
      (function not found, network connection, missing credentials, throttling), except
      ``Invalid Request Content.`` (the payload built from the row is not JSON: bad data);
    * a privilege error (:data:`PRIVILEGE_ERROR_CODES`: 1044, 1045, 1142, 1143, 1227,
      1370): misconfigured, never bad data;
    * a lock conflict (:data:`LOCK_CONFLICT_ERROR_CODES`: 1205 lock wait timeout, 1213
      deadlock victim): another transaction was in the way;
    * a schema not migrated yet (:data:`SCHEMA_BEHIND_ERROR_CODES`: 1054 unknown column,
      1146 no such table): the code was deployed before ``alembic upgrade head``.

    Anything else (duplicate key, data too long, bad value, syntax...) is bad data.
    """
    if is_unavailable(error):
        return True
    if not isinstance(error, pymysql.err.MySQLError) or not error.args:
        return False
    code, message = error.args[0], error.args[1:2]
    if code == LAMBDA_API_ERROR_CODE:
        return message != (LAMBDA_INVALID_PAYLOAD,)
    return (
        code in PRIVILEGE_ERROR_CODES
        or code in LOCK_CONFLICT_ERROR_CODES
        or code in SCHEMA_BEHIND_ERROR_CODES
    )


class ReusableConnection:
    """One connection per Lambda container, reused across invocations.

    Settings (and so the secret) are read on first use and kept; a connection that went
    stale (server restart, failover, idle timeout) is replaced on the next ``get()``; an
    authentication failure re-reads the secret once, in case it was rotated.
    """

    def __init__(self, resolve_settings=settings_from_env, **connect_options) -> None:
        self._resolve_settings = resolve_settings
        self._options = {"autocommit": True, **connect_options}
        self._settings: DatabaseSettings | None = None
        self._connection: pymysql.connections.Connection | None = None

    def get(self) -> pymysql.connections.Connection:
        """A live connection: the kept one if it still answers, else a new one."""
        if self._connection is not None:
            try:
                self._connection.ping(reconnect=False)
                return self._connection
            except pymysql.err.MySQLError:
                self.discard()
        if self._settings is None:
            self._settings = self._resolve_settings()
        try:
            self._connection = connect(self._settings, **self._options)
        except pymysql.err.OperationalError as error:
            if error.args and error.args[0] == 1045:  # access denied: maybe a rotated secret
                self._settings = self._resolve_settings()
                self._connection = connect(self._settings, **self._options)
            else:
                raise
        return self._connection

    def run(self, work: Callable[[pymysql.connections.Connection], T]) -> T:
        """``work(connection)`` on the kept connection without a ping first (a round trip
        per call saved: 15% of the drain's time in ``make bench``); if the kept connection
        turns out to be lost (failover, idle timeout), ``work`` runs once more on a new
        one. So ``work`` must be safe to run twice: its writes idempotent, or in a
        transaction that the lost connection rolled back."""
        if self._connection is None:
            return work(self.get())
        try:
            return work(self._connection)
        except Exception as error:
            if not is_connection_lost(error):
                raise
            self.discard()
        return work(self.get())

    def discard(self) -> None:
        """Forget the connection (after an error that may have left it unusable)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            # Closing a dead socket may fail; it is gone either way.
            with contextlib.suppress(Exception):
                connection.close()
