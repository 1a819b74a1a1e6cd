"""Revision 0005: the outbox triggers of 0004 move to text version 2 and write the same
rows; customer_feedback's direct triggers are untouched; the downgrade restores 0004's
text exactly."""

import json

from tests.migrations.test_ingest_outbox_revision import trigger_bodies
from tests.migrations.test_upgrade_downgrade import alembic_config, schema_snapshot


def test_0005_moves_the_outbox_triggers_to_v2_and_back(database):
    from alembic import command

    config = alembic_config(database.url)
    command.upgrade(config, "0004")
    at_0004 = schema_snapshot(database)
    bodies_0004 = trigger_bodies(database)
    command.upgrade(config, "0005")
    bodies = trigger_bodies(database)
    for name in ("customers_ai_notify", "orders_ai_notify"):
        assert "JSON_EXTRACT" in bodies_0004[name]
        assert "JSON_EXTRACT" not in bodies[name]
        assert "'event_id', new_event_id" in bodies[name]
        assert "aurora_events_outbox" in bodies[name]
    for name in ("customer_feedback_ai_notify", "customer_feedback_ai_email"):
        assert bodies[name] == bodies_0004[name]

    with database.connect().cursor() as cursor:
        cursor.execute("INSERT INTO orders (customer_id, amount, currency) VALUES (7, 12.5, 'EUR')")
        cursor.execute("SELECT event_id, payload FROM aurora_events_outbox")
        ((event_id, payload),) = cursor.fetchall()
    event = json.loads(payload)
    assert event["event_id"] == event_id
    assert (event["table"], event["delivery"], event["primary_key"]) == (
        "orders",
        "outbox",
        {"id": 1},
    )
    assert {k: event["row"][k] for k in ("customer_id", "amount", "currency")} == {
        "customer_id": 7,
        "amount": "12.50",
        "currency": "EUR",
    }

    command.downgrade(config, "0004")
    assert schema_snapshot(database) == at_0004
    assert trigger_bodies(database) == bodies_0004
