"""The drain's write of a batch on the real server: all rows or none, whichever tables they
go to, and a second run of the same batch changes nothing."""

from __future__ import annotations

import pymysql
import pytest

from functions.common.queue_messages import QueuedRow
from functions.common.resources import resource_named
from functions.drain.handler import write_atomically

CUSTOMERS, ORDERS = resource_named("customers"), resource_named("orders")


@pytest.fixture
def migrated(stack, database):
    stack.migrate(database.name)
    return database


def customer(key: str) -> QueuedRow:
    return QueuedRow(CUSTOMERS, key, {"email": f"{key}@example.com", "name": key, "phone": None})


def order(key: str, currency: str = "EUR") -> QueuedRow:
    return QueuedRow(ORDERS, key, {"customer_id": 7, "amount": "1.50", "currency": currency})


def stored(database) -> dict[str, list[str]]:
    with database.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT idempotency_key FROM customers ORDER BY id")
        customers = [key for (key,) in cursor.fetchall()]
        cursor.execute("SELECT idempotency_key FROM orders ORDER BY id")
        return {"customers": customers, "orders": [key for (key,) in cursor.fetchall()]}


def test_one_tables_rows_are_written_once_and_a_rerun_skips_them(migrated):
    rows = [order("o1"), order("o2"), order("o1")]  # a key twice: the first wins
    with migrated.connect(autocommit=True) as connection:
        assert write_atomically(connection, rows) == 2
        assert write_atomically(connection, rows + [order("o3")]) == 1
    assert stored(migrated) == {"customers": [], "orders": ["o1", "o2", "o3"]}


def test_rows_of_two_tables_are_one_transaction(migrated):
    rows = [customer("c1"), order("o1"), order("o2", currency="EURO")]  # too long: refused
    with migrated.connect(autocommit=True) as connection:
        with pytest.raises(pymysql.err.DataError):
            write_atomically(connection, rows)
        connection.rollback()  # as the drain does after bad data
        assert stored(migrated) == {"customers": [], "orders": []}
        assert write_atomically(connection, rows[:2]) == 2
    assert stored(migrated) == {"customers": ["c1"], "orders": ["o1"]}
