"""The outbox end to end on the local stack: real MariaDB, the trigger writing the outbox,
the doorbell through the emulated lambda_async, the relay run by the local runtime (on its
doorbell and on its schedule) invoking its targets through the local Invoke API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, pool

from functions.common.database import connect
from infra.database.outbox_admin import replay_events
from infra.local.container_pool import LocalFunction
from infra.local.event_source import sqs_event
from infra.local.inspect import receive_notifications
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.stack import APP_DATABASE
from migrations.lambda_trigger import LambdaTrigger
from tests.infra.outbox_targets import delivered_ids
from tests.infra.test_ingest_path import ingest_database, order
from tests.support import invocation_rows, most_doorbells, wait_for

__all__ = ["ingest_database"]  # the session fixture: the stack's database at head

_markers = iter(range(500_000, 600_000))  # customer ids apart from the other ingest tests
BULK_ROWS = 10_000


def query(stack, statement, *args):
    connection = connect(stack.app_settings(APP_DATABASE))
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, args)
            return cursor.fetchall()
    finally:
        connection.close()


def outbox_of(stack, table: str, key: str, value) -> list[tuple]:
    """``(event_id, delivered, parked, attempts)`` of the outbox events for rows of
    ``table`` whose ``row.<key>`` is ``value``."""
    return list(
        query(
            stack,
            "SELECT event_id, delivered_at IS NOT NULL, parked_at IS NOT NULL, attempts "
            "FROM aurora_events_outbox WHERE JSON_VALUE(payload, '$.table') = %s "
            "AND JSON_VALUE(payload, CONCAT('$.row.', %s)) = %s ORDER BY sequence",
            table,
            key,
            str(value),
        )
    )


class Notifications:
    """What the stack's tail queue received, kept across reads."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.seen: list[dict] = []

    def until(self, condition, timeout: float = 30) -> list[dict]:
        def read():
            self.seen += [n.event for n in receive_notifications(self.stack.tail_queue_url)]
            return condition(self.seen)

        wait_for(read, timeout=timeout, interval=0.2)
        return self.seen


def of_row(events, table, key, value) -> list[dict]:
    return [e for e in events if e["table"] == table and e["row"].get(key) == value]


@pytest.fixture(scope="module")
def targets(ingest_database, account_id, tmp_path_factory):
    """Target functions of the tests' own, run by a second runtime that the stack's Invoke
    API also serves: ``sink-a``/``sink-b`` accept every batch, ``flaky`` fails while told to."""
    stack = ingest_database
    sink_dir = tmp_path_factory.mktemp("outbox-sinks")
    region = boto3.session.Session().region_name
    functions = [
        LocalFunction(
            name=name,
            arn=f"arn:aws:lambda:{region}:{account_id}:function:{name}",
            handler=f"tests.infra.outbox_targets.{handler}",
            environment={"OUTBOX_SINK_DIR": str(sink_dir)},
        )
        for name, handler in (
            ("outbox-sink-a", "accept"),
            ("outbox-sink-b", "accept"),
            ("outbox-flaky", "flaky"),
        )
    ]
    runtime = LambdaRuntime(
        stack.admin_settings(), functions, log_dir=tmp_path_factory.mktemp("outbox-target-logs")
    )  # not started: only invoked through the Invoke API
    stack.lambda_api.attach(runtime)
    yield runtime, sink_dir, {f.name: f.arn for f in functions}
    stack.lambda_api.detach(runtime)
    runtime.stop()


@pytest.fixture
def outbox_table(ingest_database, targets, monkeypatch):
    """``make(table, *functions)``: a table in the stack's database whose rows go to each of
    the test target functions through outbox triggers; dropped afterwards."""
    stack = ingest_database
    _, _, arns = targets
    engine = create_engine(stack.app_settings(APP_DATABASE).url(), poolclass=pool.NullPool)
    made = []

    def make(table: str, *functions: str) -> None:
        query(stack, f"CREATE TABLE {table} (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT)")
        made.append(table)
        for function in functions:
            alias = function.removeprefix("outbox-").replace("-", "_")
            monkeypatch.setenv(f"AURORA_EVENTS_FUNCTION_ARN_{alias.upper()}", arns[function])
            trigger = LambdaTrigger(
                table=table, function=alias, columns=("id", "name"), delivery="outbox"
            )
            with engine.begin() as connection:
                Operations(MigrationContext.configure(connection)).create_lambda_trigger(trigger)

    yield make
    for table in made:
        query(stack, f"DROP TABLE {table}")
    engine.dispose()


def test_a_rolled_back_insert_notifies_in_direct_mode_and_not_in_outbox_mode(ingest_database):
    stack = ingest_database
    rolled_back, committed = next(_markers), next(_markers)
    connection = connect(stack.app_settings(APP_DATABASE))
    try:
        for customer in (rolled_back, committed):
            connection.begin()
            with connection.cursor() as cursor:
                # orders: outbox (0004); customer_feedback: direct (0002).
                cursor.execute(
                    "INSERT INTO orders (customer_id, amount, currency) VALUES (%s, 1, 'USD')",
                    (customer,),
                )
                cursor.execute(
                    "INSERT INTO customer_feedback (customer_name, feedback) VALUES (%s, 'x')",
                    (f"fb-{customer}",),
                )
            if customer == rolled_back:
                connection.rollback()
            else:
                connection.commit()
    finally:
        connection.close()

    seen = Notifications(stack).until(
        lambda events: (
            of_row(events, "orders", "customer_id", committed)
            and of_row(events, "customer_feedback", "customer_name", f"fb-{committed}")
            and of_row(events, "customer_feedback", "customer_name", f"fb-{rolled_back}")
        )
    )
    # Direct: the rolled-back feedback row was announced anyway, a row that never existed.
    (ghost,) = of_row(seen, "customer_feedback", "customer_name", f"fb-{rolled_back}")
    assert ghost["delivery"] == "direct"
    assert (
        query(
            stack, "SELECT id FROM customer_feedback WHERE customer_name = %s", f"fb-{rolled_back}"
        )
        == ()
    )
    # Outbox: the rolled-back order left no event; the committed one was delivered once.
    assert of_row(seen, "orders", "customer_id", rolled_back) == []
    assert outbox_of(stack, "orders", "customer_id", rolled_back) == []
    (sent,) = of_row(seen, "orders", "customer_id", committed)
    assert sent["delivery"] == "outbox"
    assert [(e, d) for e, d, _, _ in outbox_of(stack, "orders", "customer_id", committed)] == [
        (sent["event_id"], 1)
    ]


def test_ten_thousand_rows_two_targets_in_a_few_dozen_invocations(
    ingest_database, targets, outbox_table, admin
):
    stack = ingest_database
    runtime, sink_dir, arns = targets
    outbox_table("bulk_items", "outbox-sink-a", "outbox-sink-b")
    relay_arn = stack.resources.live_arns["relay"]  # what the trigger's doorbell calls

    def doorbells():
        return [r for r in invocation_rows(admin, APP_DATABASE) if r["function_arn"] == relay_arn]

    doorbells_before = len(doorbells())
    relay_before = stack.runtime.invocation_counts[stack.relay_name]
    started = time.monotonic()
    query(
        stack,
        f"INSERT INTO bulk_items (name) SELECT CONCAT('item ', seq) FROM seq_1_to_{BULK_ROWS}",
    )
    took = time.monotonic() - started

    def all_delivered():
        return (
            len(delivered_ids(sink_dir, "outbox-sink-a")) >= BULK_ROWS
            and len(delivered_ids(sink_dir, "outbox-sink-b")) >= BULK_ROWS
        )

    wait_for(all_delivered, timeout=120, interval=0.2)
    relay_runs = stack.runtime.invocation_counts[stack.relay_name] - relay_before
    target_runs = (
        runtime.invocation_counts["outbox-sink-a"] + runtime.invocation_counts["outbox-sink-b"]
    )
    rings = len(doorbells()) - doorbells_before

    for name in ("outbox-sink-a", "outbox-sink-b"):
        ids = delivered_ids(sink_dir, name)
        expected = {
            event_id
            for (event_id,) in query(
                stack,
                # This test's table: the session's database is shared, and another
                # module's table may send to the same sink.
                "SELECT event_id FROM aurora_events_outbox WHERE target_function = %s "
                "AND JSON_VALUE(payload, '$.table') = 'bulk_items'",
                arns[name],
            )
        }
        assert len(ids) == len(set(ids)) == BULK_ROWS  # each exactly once
        assert set(ids) == expected
    assert (
        len(
            set(delivered_ids(sink_dir, "outbox-sink-a"))
            & set(delivered_ids(sink_dir, "outbox-sink-b"))
        )
        == 0
    )  # one event id per row and target
    print(f"doorbells {rings}, relay runs {relay_runs}, target invocations {target_runs}")
    assert 1 <= rings <= most_doorbells(took)  # at most once a second per connection
    # Batches of up to 1,000 events: 20 invocations. The margin of 10: on a slow machine a
    # claim's lease may not cover its last batch, which is released and sent by the next
    # claim, where it can share a claim's 2,000 rows with the other target's (two calls).
    assert 2 * BULK_ROWS // 1000 <= target_runs <= 2 * BULK_ROWS // 1000 + 10
    assert relay_runs + target_runs <= 50  # the doorbells are relay runs


def test_a_failing_target_retries_then_parks_and_replay_delivers(
    ingest_database, targets, outbox_table
):
    stack = ingest_database
    _, sink_dir, _ = targets
    outbox_table("flaky_items", "outbox-flaky")
    failures = Path(sink_dir) / "outbox-flaky.failures"

    # Down for two attempts: the event waits (backoff), and the third attempt delivers it.
    failures.write_text("2")
    query(stack, "INSERT INTO flaky_items (name) VALUES ('waits')")
    ((waited, *_),) = wait_for(lambda: outbox_of(stack, "flaky_items", "name", "waits"))
    wait_for(lambda: waited in delivered_ids(sink_dir, "outbox-flaky"), timeout=30)
    assert outbox_of(stack, "flaky_items", "name", "waits") == [(waited, 1, 0, 3)]

    # Down for longer than the relay's 3 attempts (the test stack's RELAY_MAX_ATTEMPTS):
    # parked, with the error kept; a replay makes it due again and the relay delivers it.
    failures.write_text("3")
    query(stack, "INSERT INTO flaky_items (name) VALUES ('parked')")
    ((parked, *_),) = wait_for(
        lambda: [r for r in outbox_of(stack, "flaky_items", "name", "parked") if r[2]], timeout=30
    )
    ((error,),) = query(
        stack, "SELECT last_error FROM aurora_events_outbox WHERE event_id = %s", parked
    )
    assert "downstream unavailable" in error and "after 3 attempts" in error
    assert parked not in delivered_ids(sink_dir, "outbox-flaky")

    connection = connect(stack.app_settings(APP_DATABASE))
    try:
        assert replay_events(connection, event_ids=[parked]) == 1
    finally:
        connection.close()
    wait_for(lambda: parked in delivered_ids(sink_dir, "outbox-flaky"), timeout=30)
    assert outbox_of(stack, "flaky_items", "name", "parked") == [(parked, 1, 0, 1)]
    assert delivered_ids(sink_dir, "outbox-flaky").count(parked) == 1


def queued(customer: int, key: str) -> dict:
    return {
        "MessageId": f"m-{key}",
        "ReceiptHandle": "r",
        "Body": json.dumps(
            {
                "version": 1,
                "resource": "orders",
                "idempotency_key": key,
                "request_id": "",
                "received_at": "",
                "data": order(customer),
            }
        ),
        "Attributes": {"MessageGroupId": f"customer-{customer}"},
    }


def test_a_drain_batch_with_a_bad_message_leaves_no_event_for_its_rolled_back_rows(
    ingest_database,
):
    stack = ingest_database
    good = [next(_markers) for _ in range(4)]
    bad = next(_markers)
    messages = [queued(c, f"good-{c}") for c in good[:2]]
    messages.append(queued(bad, "p" * 300))  # a key too long for its column: never writable
    messages += [queued(c, f"good-{c}") for c in good[2:]]

    # The batch's one multi-row transaction fails and rolls back, after its rows' triggers
    # ran; the drain then writes message by message.
    outcome = stack.runtime.invoke(
        stack.deployment.resource_name("drain"), sqs_event(messages, "arn", "us-east-1")
    )
    assert outcome.result == {"batchItemFailures": [{"itemIdentifier": f"m-{'p' * 300}"}]}

    stored = {
        customer: order_id
        for customer, order_id in query(
            stack,
            "SELECT customer_id, id FROM orders WHERE customer_id IN (%s, %s, %s, %s, %s)",
            *good,
            bad,
        )
    }
    assert sorted(stored) == sorted(good)
    for customer in good:  # one event each: the stored row's, none for the rolled-back try
        events = query(
            stack,
            "SELECT JSON_VALUE(payload, '$.row.id') FROM aurora_events_outbox "
            "WHERE JSON_VALUE(payload, '$.table') = 'orders' "
            "AND JSON_VALUE(payload, '$.row.customer_id') = %s",
            str(customer),
        )
        assert [int(order_id) for (order_id,) in events] == [stored[customer]]
    assert outbox_of(stack, "orders", "customer_id", bad) == []
