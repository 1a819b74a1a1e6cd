"""Running the SQL files of ``sql/`` on a connection: one statement per file, values as
parameters (``%s``), never inside the text."""

from __future__ import annotations

from collections.abc import Iterable

import pymysql

import sql


def statement(name: str, **values: str) -> str:
    """The one statement of ``sql/<name>``, rendered with already-quoted ``values``."""
    (text,) = sql.render(name, **values)
    return text


def fetch_all(connection: pymysql.connections.Connection, name: str, *args) -> tuple:
    """The rows of the query in ``sql/<name>``, run with ``args`` as its parameters."""
    with connection.cursor() as cursor:
        cursor.execute(statement(name), args or None)
        return cursor.fetchall()


def fetch_value(connection: pymysql.connections.Connection, name: str, *args):
    """The first column of the first row of ``sql/<name>``'s query, or None without rows."""
    rows = fetch_all(connection, name, *args)
    return rows[0][0] if rows else None


def execute(connection: pymysql.connections.Connection, name: str, *args) -> int:
    """Run the statement of ``sql/<name>`` with ``args``; return the rows it changed."""
    with connection.cursor() as cursor:
        return cursor.execute(statement(name), args or None)


def execute_all(connection: pymysql.connections.Connection, statements: Iterable[str]) -> None:
    """Run rendered statements one by one (they take no parameters)."""
    with connection.cursor() as cursor:
        for text in statements:
            cursor.execute(text)
