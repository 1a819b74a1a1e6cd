"""Revision 0009: change events on the example schema (orders on INSERT and UPDATE,
customers on INSERT, UPDATE and DELETE), with events waiting across the upgrade and the
downgrade; the downgrade restores 0008's triggers exactly. A bulk UPDATE of 10,000 orders
writes 10,000 events, each under its row's ordering key, and rings the relay once."""

import json

from alembic import command

from functions.common.ordering_key import ordering_key
from tests.migrations.test_ingest_outbox_revision import trigger_bodies
from tests.migrations.test_upgrade_downgrade import alembic_config, schema_snapshot
from tests.support import invocation_rows

BULK_ROWS = 10_000


def outbox(database) -> list[tuple]:
    """``(event_id, ordering_key, payload)`` of every outbox row, in order."""
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT event_id, ordering_key, payload FROM aurora_events_outbox ORDER BY sequence"
        )
        return list(cursor.fetchall())


def execute(database, *statements) -> None:
    with database.connect().cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def test_0009_installs_change_events_with_events_waiting_and_downgrades_exactly(database):
    config = alembic_config(database.url)
    command.upgrade(config, "0008")
    at_0008 = schema_snapshot(database)
    bodies_0008 = trigger_bodies(database)
    execute(
        database,
        "INSERT INTO customers (id, name, email) VALUES (1, 'Ann', 'ann@example.com')",
        "INSERT INTO orders (id, customer_id, amount, currency) VALUES (1, 1, 2, 'EUR')",
    )
    waiting = outbox(database)  # 0006's text: no key
    assert [key for _, key, _ in waiting] == [None, None]

    command.upgrade(config, "0009")
    bodies = trigger_bodies(database)
    assert set(bodies) - set(bodies_0008) == {
        "customers_au_notify",
        "customers_ad_notify",
        "orders_au_notify",
    }
    for name in ("customer_feedback_ai_notify", "customer_feedback_ai_email"):
        assert bodies[name] == bodies_0008[name]
    assert "`ordering_key`" in bodies["orders_ai_notify"]
    # Nothing but triggers changed, and the waiting events are as they were.
    assert set(schema_snapshot(database)) - {
        f"trigger {n}" for n in ("customers_au_notify", "customers_ad_notify", "orders_au_notify")
    } == set(at_0008)
    assert outbox(database) == waiting

    execute(
        database,
        "UPDATE orders SET status = 'paid' WHERE id = 1",
        "UPDATE orders SET status = 'paid' WHERE id = 1",  # no change: no event
        "UPDATE customers SET phone = '+44 1' WHERE id = 1",
        "DELETE FROM orders WHERE id = 1",  # orders: no DELETE trigger
        "DELETE FROM customers WHERE id = 1",
    )
    written = outbox(database)[len(waiting) :]
    events = [json.loads(payload) for _, _, payload in written]
    assert [(e["table"], e["operation"]) for e in events] == [
        ("orders", "UPDATE"),
        ("customers", "UPDATE"),
        ("customers", "DELETE"),
    ]
    assert events[0]["changed"] == ["status"] and events[0]["after"]["status"] == "paid"
    assert events[1]["before"]["phone"] is None and events[1]["after"]["phone"] == "+44 1"
    assert events[2]["before"]["name"] == "Ann"
    assert [key for _, key, _ in written] == [
        ordering_key("orders", [1]),
        ordering_key("customers", [1]),
        ordering_key("customers", [1]),
    ]

    everything = outbox(database)
    command.downgrade(config, "0008")
    assert trigger_bodies(database) == bodies_0008  # 0006's texts, exactly
    assert schema_snapshot(database) == at_0008
    assert outbox(database) == everything  # nothing lost


def test_a_bulk_update_of_10000_orders_writes_10000_events_and_rings_once(database, stack, admin):
    config = alembic_config(database.url)
    command.upgrade(config, "0009")
    execute(
        database,
        "SET timestamp = 1900000000.5",
        "INSERT INTO orders (id, customer_id, amount, currency) "
        f"SELECT seq, seq, 1, 'EUR' FROM seq_1_to_{BULK_ROWS}",
    )
    relay = stack.resources.live_arns["relay"]

    def rings() -> int:
        return sum(
            1 for row in invocation_rows(admin, database.name) if row["function_arn"] == relay
        )

    rang = rings()
    with database.connect().cursor() as cursor:
        cursor.execute("DELETE FROM aurora_events_outbox")
        # Another interval than the INSERT's, frozen: one interval for the whole statement.
        cursor.execute("SET timestamp = 1900000100.5")
        cursor.execute("UPDATE orders SET status = 'x'")
        assert cursor.rowcount == BULK_ROWS
        cursor.execute(
            "SELECT COUNT(*), COUNT(DISTINCT ordering_key), "
            "SUM(JSON_VALUE(payload, '$.operation') = 'UPDATE'), "
            "SUM(JSON_VALUE(payload, '$.after.status') = 'x') FROM aurora_events_outbox"
        )
        assert cursor.fetchone() == (BULK_ROWS, BULK_ROWS, BULK_ROWS, BULK_ROWS)
        cursor.execute(
            "SELECT ordering_key FROM aurora_events_outbox "
            "WHERE JSON_VALUE(payload, '$.primary_key.id') = 4321"
        )
        assert cursor.fetchone() == (ordering_key("orders", [4321]),)
    assert rings() - rang == 1
