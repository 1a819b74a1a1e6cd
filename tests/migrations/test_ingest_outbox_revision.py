"""Revision 0004: customers and orders move to the outbox, customer_feedback stays direct;
the downgrade restores 0003 exactly, and refuses to drop events that still wait."""

import pytest

from migrations.event_outbox import OutboxNotEmpty
from tests.migrations.test_upgrade_downgrade import alembic_config, schema_snapshot


def trigger_bodies(database) -> dict[str, str]:
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE()"
        )
        return dict(cursor.fetchall())


def test_0004_moves_the_ingest_tables_to_the_outbox_and_back(database):
    from alembic import command

    config = alembic_config(database.url)
    command.upgrade(config, "0003")
    at_0003 = schema_snapshot(database)
    command.upgrade(config, "0004")
    bodies = trigger_bodies(database)
    for name in ("customers_ai_notify", "orders_ai_notify"):
        assert "aurora_events_outbox" in bodies[name]
    for name in ("customer_feedback_ai_notify", "customer_feedback_ai_email"):
        assert "aurora_events_outbox" not in bodies[name]

    with database.connect().cursor() as cursor:
        cursor.execute("INSERT INTO orders (customer_id, amount, currency) VALUES (1, 2, 'EUR')")
    # A waiting event: the downgrade puts the triggers back to direct, then stops before
    # dropping the outbox (the event would be lost).
    with pytest.raises(OutboxNotEmpty, match="1 undelivered event"):
        command.downgrade(config, "0003")
    assert "aurora_events_outbox" not in trigger_bodies(database)["orders_ai_notify"]
    # Once the relay has delivered it, running the downgrade again finishes.
    with database.connect().cursor() as cursor:
        cursor.execute("UPDATE aurora_events_outbox SET delivered_at = UTC_TIMESTAMP(6)")
    command.downgrade(config, "0003")
    assert schema_snapshot(database) == at_0003
