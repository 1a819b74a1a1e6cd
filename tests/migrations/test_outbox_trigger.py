"""Delivery "outbox": the event commits or rolls back with its row, a broken Lambda link
never fails the INSERT, and a bulk insert rings the relay's doorbell a few times, not
once a row (real MariaDB with the emulated lambda_async)."""

import json
import time

import pytest

from infra.database import grants as db_grants
from migrations.event_outbox import OutboxNotEmpty
from migrations.lambda_trigger import LambdaTrigger
from migrations.row_event_sql import TriggerDefinitionError
from tests.support import invocation_rows, most_doorbells

DIRECT = LambdaTrigger(table="things", function="notify", columns=("id", "name"))
OUTBOX = LambdaTrigger(table="things", function="notify", columns=("id", "name"), delivery="outbox")


def outbox_rows(database) -> list[dict]:
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT event_id, target_function, payload, attempts, delivered_at, parked_at "
            "FROM aurora_events_outbox ORDER BY sequence"
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def calls_to(admin, database, arn) -> list[dict]:
    return [row for row in invocation_rows(admin, database.name) if row["function_arn"] == arn]


def test_the_outbox_table_ops_reverse_each_other_and_never_drop_pending_events(
    things, run_ops, relay_arn
):
    run_ops(lambda op: op.create_event_outbox())
    assert outbox_rows(things) == []
    run_ops(lambda op: op.create_lambda_trigger(OUTBOX))
    with things.connect().cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES ('waiting')")
    run_ops(lambda op: op.drop_lambda_trigger(OUTBOX))
    with pytest.raises(OutboxNotEmpty, match="still holds 1 undelivered event"):
        run_ops(lambda op: op.drop_event_outbox())
    assert len(outbox_rows(things)) == 1  # nothing lost
    run_ops(lambda op: op.drop_event_outbox(discard_pending=True))
    with things.connect().cursor() as cursor:
        cursor.execute("SHOW TABLES LIKE 'aurora_events_outbox'")
        assert cursor.fetchall() == ()
    run_ops(lambda op: op.drop_event_outbox())  # dropping again is not an error


def test_a_committed_row_leaves_its_event_and_a_rolled_back_one_nothing(
    things, run_ops, relay_arn, stack, admin
):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(OUTBOX))
    connection = things.connect()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES ('kept \"quoted\" 😀')")
    connection.begin()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES ('rolled back')")
    connection.rollback()

    (row,) = outbox_rows(things)
    event = json.loads(row["payload"])
    assert row["event_id"] == event["event_id"]
    # The trigger resolved notify to its alias live: the relay invokes that.
    assert row["target_function"] == stack.resources.live_arns["notify"]
    assert (row["attempts"], row["delivered_at"], row["parked_at"]) == (0, None, None)
    assert event["delivery"] == "outbox"
    assert event["row"] == {"id": 1, "name": 'kept "quoted" 😀'}
    # The target is never called from the trigger: the relay delivers.
    assert calls_to(admin, things, stack.resources.live_arns["notify"]) == []


def test_a_bulk_insert_rings_the_doorbell_once_not_once_a_row(things, run_ops, relay_arn, admin):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(OUTBOX))
    started = time.monotonic()
    with things.connect().cursor() as cursor:
        cursor.execute("INSERT INTO things (name) SELECT CONCAT('bulk-', seq) FROM seq_1_to_1000")
    took = time.monotonic() - started
    rows = outbox_rows(things)
    assert len(rows) == 1000
    assert len({row["event_id"] for row in rows}) == 1000
    rings = calls_to(admin, things, relay_arn)
    assert 1 <= len(rings) <= most_doorbells(took)  # once, on a machine that takes < 1 s
    assert all(json.loads(ring["payload"]) == {"doorbell": things.name} for ring in rings)


def test_a_missing_relay_never_fails_the_insert(things, run_ops, monkeypatch, account_id, admin):
    missing = f"arn:aws:lambda:us-east-1:{account_id}:function:nobody-deployed-this-relay"
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_RELAY", missing)
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(OUTBOX))
    with things.connect().cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES ('still stored')")
        cursor.execute("SELECT name FROM things")
        assert cursor.fetchall() == (("still stored",),)
    assert len(outbox_rows(things)) == 1
    assert calls_to(admin, things, missing) == []


def test_a_lost_lambda_grant_never_fails_the_insert(things, run_ops, relay_arn, admin):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(OUTBOX))
    with admin.cursor() as cursor:
        cursor.execute("REVOKE AWS_LAMBDA_ACCESS FROM 'app'@'%'")
    try:
        with things.connect().cursor() as cursor:
            cursor.execute("INSERT INTO things (name) VALUES ('grant lost')")
    finally:
        db_grants.grant_lambda_access(admin, "app", "%")
    assert len(outbox_rows(things)) == 1
    assert calls_to(admin, things, relay_arn) == []


def test_an_outbox_trigger_before_the_outbox_table_names_the_op(things, run_ops, relay_arn):
    with pytest.raises(TriggerDefinitionError, match=r"call op.create_event_outbox\(\) first"):
        run_ops(lambda op: op.create_lambda_trigger(OUTBOX))


def test_direct_to_outbox_and_back_restores_the_exact_trigger(things, run_ops, relay_arn):
    def definition():
        with things.connect().cursor() as cursor:
            cursor.execute(
                "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = 'things_ai_notify'"
            )
            return cursor.fetchone()[0]

    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(DIRECT))
    direct = definition()
    run_ops(lambda op: op.replace_lambda_trigger(OUTBOX, replaces=DIRECT))
    assert "aurora_events_outbox" in definition()
    with things.connect().cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES ('via outbox')")
    assert [json.loads(r["payload"])["row"]["name"] for r in outbox_rows(things)] == ["via outbox"]
    run_ops(lambda op: op.replace_lambda_trigger(DIRECT, replaces=OUTBOX))
    assert definition() == direct
