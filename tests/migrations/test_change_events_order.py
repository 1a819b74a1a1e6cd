"""Per-row order end to end, from the trigger: 200 rows each updated 20 times by 8
connections (each UPDATE its own commit), the outbox trigger of change events (text 4)
writing each event with its row's ordering key, two relays running meanwhile, and the
target failing the first attempt of 10% of the events: each row's UPDATE events arrive
in commit order, by the row's own version column, none lost or twice.

The relay and the flaky target are tests/functions/test_relay_order.py's (where the
outbox rows are written by hand); here the trigger writes them."""

from __future__ import annotations

import queue
import random

from migrations.lambda_trigger import LambdaTrigger
from tests.functions.test_relay import table
from tests.functions.test_relay_order import (
    FlakyTarget,
    assert_each_row_in_order,
    first_attempts_that_fail,
    write_while_two_relays_deliver,
)

ROWS, VERSIONS, WRITERS = 200, 20, 8


class RowEvents:
    """The flaky target, seeing a row event as (row id, the row's version after)."""

    def __init__(self, target: FlakyTarget) -> None:
        self.target = target

    def __call__(self, function: str, events: list[dict]) -> dict:
        return self.target(
            function,
            [
                {
                    "event_id": e["event_id"],
                    "row": e["primary_key"]["id"],
                    "version": e["after"]["version"],
                }
                for e in events
            ],
        )


def test_each_rows_update_events_arrive_in_commit_order_from_the_trigger(
    ordered_outbox, run_ops, relay_arn, monkeypatch
):
    monkeypatch.setenv(
        "AURORA_EVENTS_FUNCTION_ARN_NOTIFY",
        "arn:aws:lambda:us-east-1:123456789012:function:order-target",
    )
    with ordered_outbox.connect().cursor() as cursor:
        cursor.execute("CREATE TABLE things (id INT PRIMARY KEY, version INT NOT NULL)")
        cursor.executemany("INSERT INTO things VALUES (%s, 0)", [(n,) for n in range(ROWS)])
    trigger = LambdaTrigger.declare(
        "things", "notify", ("id", "version"), delivery="outbox", operations=("UPDATE",)
    )
    run_ops(lambda op: op.create_lambda_trigger(trigger))

    fail_first = first_attempts_that_fail(1919, ROWS, VERSIONS)
    chance = random.Random(1919)
    work = [row for row in range(ROWS) for _ in range(VERSIONS)]
    chance.shuffle(work)
    todo: queue.Queue = queue.Queue()
    for row in work:
        todo.put(row)
    written = [0] * WRITERS

    def writer(index: int) -> None:
        connection = ordered_outbox.connect()  # autocommit: each UPDATE its own commit
        with connection.cursor() as cursor:
            while True:
                try:
                    row = todo.get_nowait()
                except queue.Empty:
                    return
                cursor.execute("UPDATE things SET version = version + 1 WHERE id = %s", (row,))
                written[index] += 1

    target = FlakyTarget(fail_first)
    write_while_two_relays_deliver(ordered_outbox, RowEvents(target), writer, WRITERS)
    assert sum(written) == ROWS * VERSIONS and min(written) > 0

    assert_each_row_in_order(target.attempts, ROWS, VERSIONS)
    failed = sum(not ok for attempts in target.attempts.values() for _, ok in attempts)
    assert failed == len(fail_first) > 0
    assert len(target.by_relay) == 2 and min(target.by_relay.values()) > 0  # side by side
    rows = table(ordered_outbox)
    assert len(rows) == ROWS * VERSIONS
    assert all(r["delivered"] and not r["parked"] for r in rows)
