"""ReusableConnection.run: the kept connection is used without a ping, and a connection
the server dropped is replaced once, on the real server."""

from __future__ import annotations

import pymysql
import pytest

from functions.common.database import ReusableConnection, is_connection_lost, parse_database_url


def connection_ids(reusable: ReusableConnection, runs: int) -> list[int]:
    """The server's connection id seen by each of ``runs`` calls of ``reusable.run``."""

    def work(connection) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            return cursor.fetchone()[0]

    return [reusable.run(work) for _ in range(runs)]


def test_run_keeps_one_connection(database):
    reusable = ReusableConnection(lambda: parse_database_url(database.url))
    ids = connection_ids(reusable, 3)
    assert len(set(ids)) == 1


def test_a_dropped_connection_is_replaced_and_the_work_runs_again(database, admin):
    reusable = ReusableConnection(lambda: parse_database_url(database.url))
    (first,) = connection_ids(reusable, 1)
    with admin.cursor() as cursor:
        cursor.execute(f"KILL {first}")
    calls: list[int] = []

    def insert(connection) -> None:
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS marks (n INT)")
            cursor.execute("INSERT INTO marks VALUES (1)")

    reusable.run(insert)
    assert len(calls) == 2  # the first on the dead connection, the second on a new one
    with database.connect() as check, check.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM marks")
        assert cursor.fetchone() == (1,)
    assert connection_ids(reusable, 1) != [first]


def test_other_errors_are_not_retried(database):
    reusable = ReusableConnection(lambda: parse_database_url(database.url))
    connection_ids(reusable, 1)
    calls: list[int] = []

    def bad(connection) -> None:
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    with pytest.raises(pymysql.err.ProgrammingError):
        reusable.run(bad)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"), True),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), True),
        (pymysql.err.InterfaceError(0, ""), True),
        (BrokenPipeError(), True),
        (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), False),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), False),
    ],
)
def test_which_errors_mean_the_connection_is_lost(error, lost):
    assert is_connection_lost(error) is lost
