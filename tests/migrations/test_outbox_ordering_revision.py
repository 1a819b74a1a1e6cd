"""Revision 0008: the outbox's ordering key and its index, with events waiting across the
upgrade and the downgrade; the downgrade restores 0007's table exactly, and the relay
follows the schema (ordered after the upgrade, as before after the downgrade)."""

import json

from alembic import command

from functions.common.ordering_key import ordering_key
from functions.relay.delivery import RelaySettings
from functions.relay.outbox import OutboxStore
from functions.relay.runs import run_relay
from tests.functions.test_relay import Targets
from tests.migrations.test_upgrade_downgrade import alembic_config, schema_snapshot


def waiting(database) -> list[tuple[str, object]]:
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT event_id, delivered_at FROM aurora_events_outbox ORDER BY sequence")
        return cursor.fetchall()


def add_order(database) -> None:
    with database.connect().cursor() as cursor:
        cursor.execute("INSERT INTO orders (customer_id, amount, currency) VALUES (1, 2, 'EUR')")


def test_0008_adds_the_ordering_key_with_events_waiting_and_downgrades_exactly(database):
    config = alembic_config(database.url)
    command.upgrade(config, "0007")
    at_0007 = schema_snapshot(database)
    add_order(database)  # an event waiting through the upgrade (the trigger writes no key)
    before = waiting(database)
    command.upgrade(config, "0008")
    table = schema_snapshot(database)["table aurora_events_outbox"]
    assert "`ordering_key` binary(16) DEFAULT NULL" in table
    assert (
        "KEY `outbox_key_pending` (`delivered_at`,`parked_at`,`ordering_key`,`sequence`)" in table
    )
    assert {k: v for k, v in schema_snapshot(database).items() if "outbox" not in k} == {
        k: v for k, v in at_0007.items() if "outbox" not in k
    }
    assert waiting(database) == before
    relay = OutboxStore(database.connect())
    assert relay.ordered
    # Two events of one row written with their key, as the change triggers will.
    row_key = ordering_key("orders", [7])
    with database.connect().cursor() as cursor:
        for version in (1, 2):
            cursor.execute(
                "INSERT INTO aurora_events_outbox (event_id, target_function, payload, "
                "created_at, next_attempt_at, ordering_key) VALUES (UUID(), 'arn:a', "
                "'{}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), %s)",
                (row_key,),
            )
            cursor.execute(
                "UPDATE aurora_events_outbox SET payload = JSON_OBJECT('event_id', event_id, "
                "'version', %s) WHERE sequence = LAST_INSERT_ID()",
                (version,),
            )
    # The unkeyed event and the row's two events: the follower is claimed with its head.
    claim = relay.claim(100, 30, 10**9, 10**9)
    assert [row.event_id for row in claim.rows][0] == before[0][0]
    assert [row.ordering_key for row in claim.rows] == [None, row_key, row_key]
    with_keys = waiting(database)
    relay.release(claim.lease, [row.sequence for row in claim.rows], attempted=False)

    command.downgrade(config, "0007")
    assert schema_snapshot(database) == at_0007  # 0007's table exactly
    assert waiting(database) == with_keys  # nothing lost
    unordered = OutboxStore(database.connect())
    assert not unordered.ordered
    targets = Targets()
    run_relay(unordered, targets, RelaySettings(lease_seconds=60, target_timeout_seconds=10))
    assert targets.sent() == [event_id for event_id, _ in with_keys]  # unordered, as before
    events = [json.loads(p) for p in payloads(database)]
    assert [event.get("version") for event in events[1:]] == [1, 2]


def payloads(database) -> list[str]:
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT payload FROM aurora_events_outbox ORDER BY sequence")
        return [payload for (payload,) in cursor.fetchall()]
