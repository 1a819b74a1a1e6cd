"""The drain's write of a batch on the real server: all rows or none, whichever tables they
go to, and a second run of the same batch changes nothing; a request under a stored key
with another body is recorded as a conflict, once."""

from __future__ import annotations

import pymysql
import pytest

from functions.common.queue_messages import QueuedRow, queued_row
from functions.common.resources import body_hash, resource_named
from functions.drain.handler import write_atomically
from functions.drain.rows import recorded_conflicts

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


def keyed_order(key, customer_id, amount, message_id):
    values = {"customer_id": customer_id, "amount": amount, "currency": "USD"}
    row = queued_row(ORDERS, values, key, None, f"r-{message_id}")
    return QueuedRow(**{**row.__dict__, "message_id": message_id})


def orders_and_conflicts(database):
    with database.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT customer_id, amount, idempotency_body_hash FROM orders ORDER BY id")
        orders = [(c, str(a), h) for c, a, h in cursor.fetchall()]
        cursor.execute(
            "SELECT resource, idempotency_key, client_key, stored_body_hash, body_hash, "
            "message_id, request_id, data FROM ingest_conflicts ORDER BY id"
        )
        return orders, list(cursor.fetchall())


def test_two_customers_with_one_key_are_two_rows(migrated):
    rows = [keyed_order("shared", 501, "1.00", "m-1"), keyed_order("shared", 502, "1.00", "m-2")]
    with migrated.connect(autocommit=True) as connection:
        assert write_atomically(connection, rows[:1]) == 1
        assert write_atomically(connection, rows[1:]) == 1
    orders, conflicts = orders_and_conflicts(migrated)
    assert [(c, a) for c, a, _ in orders] == [(501, "1.00"), (502, "1.00")]
    assert conflicts == []


def test_another_body_under_a_stored_key_is_one_conflict_and_an_exact_resend_none(migrated):
    first = keyed_order("k", 501, "1.00", "m-1")
    resend = keyed_order("k", 501, "1.00", "m-2")
    other = keyed_order("k", 501, "2.00", "m-3")
    reported = []
    with migrated.connect(autocommit=True) as connection:
        assert write_atomically(connection, [first]) == 1
        assert write_atomically(connection, [resend], reported.append) == 0
        assert reported == []
        assert write_atomically(connection, [other], reported.append) == 0
        # The same message again (a redelivery): recorded once.
        assert write_atomically(connection, [other], reported.append) == 0
    orders, conflicts = orders_and_conflicts(migrated)
    assert orders == [(501, "1.00", first.body_hash)]
    assert conflicts == [
        (
            "orders",
            first.idempotency_key,
            "k",
            first.body_hash,
            other.body_hash,
            "m-3",
            "r-m-3",
            '{"amount":"2.00","currency":"USD","customer_id":501}',
        )
    ]
    assert [len(plan.new_conflicts) for plan in reported] == [1]  # reported once, as recorded
    with migrated.connect() as connection:
        (shown,) = recorded_conflicts(connection, 10)
    assert shown.line().endswith(
        f"orders client_key=k stored_key={first.idempotency_key} "
        f"stored_body={first.body_hash[:16]} refused_body={other.body_hash[:16]} message=m-3"
    )


def test_a_conflict_within_one_batch_is_recorded_with_the_first_rows_write(migrated):
    rows = [
        keyed_order("k", 501, "1.00", "m-1"),
        keyed_order("k", 501, "3.00", "m-2"),
        keyed_order("k", 501, "1.00", "m-3"),  # the first again: a resend, no conflict
    ]
    with migrated.connect(autocommit=True) as connection:
        assert write_atomically(connection, rows) == 1
    orders, conflicts = orders_and_conflicts(migrated)
    assert orders == [(501, "1.00", rows[0].body_hash)]
    assert [(c[3], c[4], c[5]) for c in conflicts] == [
        (rows[0].body_hash, rows[1].body_hash, "m-2")
    ]


def test_without_a_key_identical_bodies_are_one_row_and_others_are_not(migrated):
    rows = [
        keyed_order(None, 501, "1.00", "m-1"),
        keyed_order(None, 501, "1.00", "m-2"),
        keyed_order(None, 501, "2.00", "m-3"),
    ]
    with migrated.connect(autocommit=True) as connection:
        assert write_atomically(connection, rows) == 2
    orders, conflicts = orders_and_conflicts(migrated)
    assert [(c, a) for c, a, _ in orders] == [(501, "1.00"), (501, "2.00")]
    assert conflicts == []


def test_a_row_stored_before_hashes_is_never_a_conflict(migrated):
    legacy = QueuedRow(ORDERS, "old-key", {"customer_id": 7, "amount": "1.00", "currency": "USD"})
    with migrated.connect(autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders (customer_id, amount, currency, idempotency_key) "
            "VALUES (7, 1.00, 'USD', 'old-key')"
        )
        later = QueuedRow(**{**legacy.__dict__, "values": {**legacy.values, "amount": "5.00"}})
        later = QueuedRow(**{**later.__dict__, "body_hash": body_hash(later.values)})
        assert write_atomically(connection, [later]) == 0
    orders, conflicts = orders_and_conflicts(migrated)
    assert orders == [(7, "1.00", None)] and conflicts == []


def test_aurora_events_conflicts_prints_one_line_per_conflict(migrated, capsys):
    from infra.cli import main

    assert main(["conflicts", "--database-url", migrated.url]) == 0
    assert capsys.readouterr().out == "no idempotency conflicts recorded\n"
    rows = [keyed_order("k", 9, "1.00", "m-1"), keyed_order("k", 9, "2.00", "m-2")]
    rows.append(keyed_order("j", 9, "1.00", "m-3"))
    rows.append(keyed_order("j", 9, "4.00", "m-4"))
    with migrated.connect(autocommit=True) as connection:
        assert write_atomically(connection, rows) == 2
    assert main(["conflicts", "--database-url", migrated.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[2].startswith("each is a request not stored")
    assert " orders client_key=j stored_key=s1:" in lines[0] and lines[0].endswith("message=m-4")
    assert " orders client_key=k stored_key=s1:" in lines[1] and lines[1].endswith("message=m-2")
