"""Revision 0010: the outbox's hold counter, with events waiting across the upgrade and the
downgrade; the downgrade restores 0009's schema exactly, and the relay follows the schema
(it uses the counter after the upgrade, and promotes on every record after the
downgrade)."""

from alembic import command

from functions.relay.delivery import RelaySettings
from functions.relay.outbox import OutboxStore
from functions.relay.runs import run_relay
from tests.functions.test_relay import Targets
from tests.migrations.test_outbox_ordering_revision import add_order, waiting
from tests.migrations.test_upgrade_downgrade import alembic_config, schema_snapshot


def counter(database) -> list[tuple[int, int]]:
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT id, holds FROM aurora_events_outbox_holds")
        return list(cursor.fetchall())


def test_0010_adds_the_hold_counter_with_events_waiting_and_downgrades_exactly(database):
    config = alembic_config(database.url)
    command.upgrade(config, "0009")
    at_0009 = schema_snapshot(database)
    for _ in range(3):
        add_order(database)  # events waiting through the upgrade, each with its row's key
    before = waiting(database)
    assert len(before) == 3 and not any(delivered for _, delivered in before)
    relay = OutboxStore(database.connect())
    assert (relay.ordered, relay.hold_counter) == (True, False)

    command.upgrade(config, "0010")
    snapshot = schema_snapshot(database)
    assert "`holds` bigint(20) NOT NULL" in snapshot["table aurora_events_outbox_holds"]
    assert {k: v for k, v in snapshot.items() if k != "table aurora_events_outbox_holds"} == (
        at_0009
    )
    assert counter(database) == [(1, 0)]
    assert waiting(database) == before
    relay = OutboxStore(database.connect())
    assert (relay.ordered, relay.hold_counter) == (True, True)
    claim = relay.claim(100, 30, 10**9, 10**9)
    assert [row.event_id for row in claim.rows] == [event_id for event_id, _ in before]
    assert claim.lease.holds_seen == 0
    relay.release(claim.lease, [row.sequence for row in claim.rows], attempted=False)

    command.downgrade(config, "0009")
    assert schema_snapshot(database) == at_0009  # 0009's schema exactly
    assert waiting(database) == before  # nothing lost, nothing sent
    relay = OutboxStore(database.connect())
    assert (relay.ordered, relay.hold_counter) == (True, False)
    targets = Targets()
    summary = run_relay(relay, targets, RelaySettings(lease_seconds=60, target_timeout_seconds=10))
    assert summary.delivered == 3
    assert sorted(targets.sent()) == sorted(event_id for event_id, _ in before)
    assert all(delivered is not None for _, delivered in waiting(database))
