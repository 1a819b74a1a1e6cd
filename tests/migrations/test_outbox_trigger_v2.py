"""The outbox trigger's text version 2 keeps every guarantee of version 1: the same event
for the same row, one outbox row per target whose event_id is the event's, in sequence
order, committed or rolled back with the row, a few doorbells per bulk insert, and no
INSERT failed by Lambda (real MariaDB with the emulated lambda_async). Version 1's text
is never changed by it: its rendering is pinned here byte for byte."""

import json
import time

import pytest

from functions.common.events import parse_row_event
from migrations.lambda_trigger import LambdaTrigger
from migrations.row_event_sql import TriggerDefinitionError, payload_expression
from tests.migrations.test_outbox_trigger import calls_to, outbox_rows
from tests.migrations.test_row_event_payload import COLUMNS, HARD_ROWS, KINDS_TABLE, expected
from tests.support import most_doorbells

V1 = LambdaTrigger(table="things", function="notify", columns=("id", "name"), delivery="outbox")
V2 = LambdaTrigger(
    table="things", function="notify", columns=("id", "name"), delivery="outbox", template_version=2
)


def trigger_body(database, name: str) -> str:
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = %s",
            (name,),
        )
        return cursor.fetchone()[0]


def test_v2_sends_the_same_event_as_v1_for_every_hard_value(database, run_ops, relay_arn, stack):
    """One table, a v1 trigger to notify and a v2 trigger to email: for each row, two
    outbox rows whose events differ only in their id and their time."""
    with database.connect().cursor() as cursor:
        cursor.execute(KINDS_TABLE)
    v1 = LambdaTrigger("kinds", "notify", COLUMNS, delivery="outbox")
    v2 = LambdaTrigger("kinds", "email", COLUMNS, delivery="outbox", template_version=2)
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(v1))
    run_ops(lambda op: op.create_lambda_trigger(v2))
    inserted = []
    with database.connect().cursor() as cursor:
        for values in HARD_ROWS:
            cursor.execute(
                f"INSERT INTO kinds ({', '.join(values)}) "
                f"VALUES ({', '.join(['%s'] * len(values))})",
                list(values.values()),
            )
            inserted.append(expected(cursor.lastrowid, values))

    rows = outbox_rows(database)
    by_target = {
        name: [row for row in rows if row["target_function"] == stack.resources.live_arns[name]]
        for name in ("notify", "email")
    }
    assert [len(found) for found in by_target.values()] == [len(HARD_ROWS)] * 2
    events = {
        name: [json.loads(row["payload"]) for row in found] for name, found in by_target.items()
    }
    for row, event in zip(by_target["email"], events["email"], strict=True):
        assert row["event_id"] == event["event_id"]  # the outbox row's id is the event's
        parsed = parse_row_event(event)
        assert (parsed.delivery, parsed.table, parsed.database) == (
            "outbox",
            "kinds",
            database.name,
        )
    assert [event["row"] for event in events["email"]] == inserted

    def without_id_and_time(event):
        return {k: v for k, v in event.items() if k not in ("event_id", "occurred_at")}

    assert [without_id_and_time(e) for e in events["email"]] == [
        without_id_and_time(e) for e in events["notify"]
    ]
    all_ids = [row["event_id"] for row in rows]
    assert len(set(all_ids)) == len(all_ids) == 2 * len(HARD_ROWS)


def test_v2_commits_with_the_row_and_rolls_back_with_it(things, run_ops, relay_arn, stack, admin):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(V2))
    connection = things.connect()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES ('kept')")
    connection.begin()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES ('rolled back')")
    connection.rollback()

    (row,) = outbox_rows(things)
    event = json.loads(row["payload"])
    assert (row["event_id"], row["target_function"]) == (
        event["event_id"],
        stack.resources.live_arns["notify"],
    )
    assert (row["attempts"], row["delivered_at"], row["parked_at"]) == (0, None, None)
    assert event["row"] == {"id": 1, "name": "kept"}
    assert calls_to(admin, things, stack.resources.live_arns["notify"]) == []


def test_v2_bulk_insert_writes_one_row_per_event_in_order_and_rings_once(
    things, run_ops, relay_arn, admin
):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(V2))
    started = time.monotonic()
    with things.connect().cursor() as cursor:
        cursor.execute("INSERT INTO things (name) SELECT CONCAT('bulk-', seq) FROM seq_1_to_1000")
    took = time.monotonic() - started
    rows = outbox_rows(things)  # in sequence order
    events = [json.loads(row["payload"]) for row in rows]
    assert [event["row"]["id"] for event in events] == list(range(1, 1001))
    assert [row["event_id"] for row in rows] == [event["event_id"] for event in events]
    assert len({row["event_id"] for row in rows}) == 1000
    rings = calls_to(admin, things, relay_arn)
    assert 1 <= len(rings) <= most_doorbells(took)  # once, on a machine that takes < 1 s
    assert all(json.loads(ring["payload"]) == {"doorbell": things.name} for ring in rings)


def test_v2_never_fails_the_insert_for_a_missing_relay(
    things, run_ops, monkeypatch, account_id, admin
):
    missing = f"arn:aws:lambda:us-east-1:{account_id}:function:nobody-deployed-this-relay"
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_RELAY", missing)
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(V2))
    with things.connect().cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES ('still stored')")
        cursor.execute("SELECT name FROM things")
        assert cursor.fetchall() == (("still stored",),)
    assert len(outbox_rows(things)) == 1
    assert calls_to(admin, things, missing) == []


def test_v1_to_v2_and_back_restores_the_exact_trigger(things, run_ops, relay_arn):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(V1))
    v1_body = trigger_body(things, "things_ai_notify")
    assert "JSON_EXTRACT" in v1_body
    run_ops(lambda op: op.replace_lambda_trigger(V2, replaces=V1))
    v2_body = trigger_body(things, "things_ai_notify")
    assert "JSON_EXTRACT" not in v2_body
    assert "'event_id', new_event_id" in v2_body
    run_ops(lambda op: op.replace_lambda_trigger(V1, replaces=V2))
    assert trigger_body(things, "things_ai_notify") == v1_body


def test_a_version_the_delivery_lacks_is_named():
    with pytest.raises(
        TriggerDefinitionError, match=r"'direct' has no .* version 3 \(it has: 1, 2\)"
    ):
        LambdaTrigger(table="t", function="notify", columns=("id",), template_version=3)
    with pytest.raises(
        TriggerDefinitionError, match=r"'outbox' has no .* 5 \(it has: 1, 2, 3, 4\)"
    ):
        LambdaTrigger("t", "notify", ("id",), delivery="outbox", template_version=5)


# What row_event_payload.sql rendered before it had an ${event_id} placeholder (main at
# c34e2ff): the landed revisions render it with the default, so it must stay this, byte
# for byte.
LANDED_PAYLOAD = """JSON_OBJECT(
  'version', 1,
  'event_id', UUID(),
  'occurred_at', DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ'),
  'database', DATABASE(),
  'table', 'orders',
  'operation', 'INSERT',
  'delivery', 'outbox',
  'primary_key', JSON_OBJECT('id', NEW.`id`),
  'row', JSON_OBJECT('id', NEW.`id`, 'amount', CAST(NEW.`amount` AS CHAR))
)"""


def test_the_landed_payload_text_is_unchanged():
    types = {"id": "bigint", "amount": "decimal"}
    rendered = payload_expression("orders", ("id", "amount"), ("id",), types, "outbox")
    assert rendered == LANDED_PAYLOAD
