"""Revision 0006: the outbox triggers of 0005 move to text version 3 (one doorbell for all
connections) and write the same rows; customer_feedback's direct triggers are untouched;
the downgrade restores 0005's text exactly and adds nothing to the schema."""

import json

from tests.migrations.test_ingest_outbox_revision import trigger_bodies
from tests.migrations.test_upgrade_downgrade import alembic_config, schema_snapshot
from tests.support import invocation_rows


def test_0006_moves_the_outbox_triggers_to_v3_and_back(database, stack, admin):
    from alembic import command

    config = alembic_config(database.url)
    command.upgrade(config, "0005")
    at_0005 = schema_snapshot(database)
    bodies_0005 = trigger_bodies(database)
    command.upgrade(config, "0006")
    bodies = trigger_bodies(database)
    for name in ("customers_ai_notify", "orders_ai_notify"):
        assert "GET_LOCK" not in bodies_0005[name]
        assert "GET_LOCK(bell, 0)" in bodies[name]
        assert "'event_id', new_event_id" in bodies[name]
    for name in ("customer_feedback_ai_notify", "customer_feedback_ai_email"):
        assert bodies[name] == bodies_0005[name]
    # Nothing but the trigger texts changed: no table, no routine.
    assert set(schema_snapshot(database)) == set(at_0005)

    connections = [database.connect() for _ in range(3)]
    for number, connection in enumerate(connections):
        with connection.cursor() as cursor:
            cursor.execute("SET timestamp = 1900000000.5")  # one interval for all three
            cursor.execute(
                "INSERT INTO orders (customer_id, amount, currency) VALUES (%s, 12.5, 'EUR')",
                (number,),
            )
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT event_id, payload FROM aurora_events_outbox ORDER BY sequence")
        rows = cursor.fetchall()
    events = [json.loads(payload) for _, payload in rows]
    assert [event["event_id"] for event in events] == [event_id for event_id, _ in rows]
    assert [(e["table"], e["delivery"], e["row"]["customer_id"]) for e in events] == [
        ("orders", "outbox", number) for number in range(3)
    ]
    rings = [
        row
        for row in invocation_rows(admin, database.name)
        if row["function_arn"] == stack.resources.live_arns["relay"]
    ]
    assert len(rings) == 1  # 0005's text: one per connection, 3

    command.downgrade(config, "0005")
    assert schema_snapshot(database) == at_0005
    assert trigger_bodies(database) == bodies_0005
