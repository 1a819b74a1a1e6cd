"""The relay beside users' writes, on the real server: delivery never makes a user's write
fail. Writers commit multi-row INSERTs into a table with an outbox trigger while two relays
claim, send, mark and purge (a retention of 0, so the purge runs all the time): no writer
meets a deadlock or a lock-wait timeout, and every committed row's event reaches its target
once."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pymysql

from functions.relay.delivery import RelaySettings
from functions.relay.outbox import OutboxStore
from functions.relay.runs import run_relay
from migrations.lambda_trigger import LambdaTrigger
from tests.threads import run_threads

WRITERS = 8
ROWS_PER_INSERT = 100
# The figure is 60 s; RELAY_LOAD_SECONDS overrides it for a longer soak.
WRITE_SECONDS = float(os.environ.get("RELAY_LOAD_SECONDS", "60"))
TRIGGER = LambdaTrigger(
    table="things", function="notify", columns=("id", "name"), delivery="outbox", template_version=2
)


class ImmediateTarget:
    """A target that takes every event at once; counts what it received, per event id."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, target, events):
        with self.lock:
            self.received.update(event["event_id"] for event in events)
        return {"batchItemFailures": []}


def write_for(database, seconds: float, errors: Counter) -> int:
    """Commit ``ROWS_PER_INSERT``-row INSERTs until ``seconds`` pass; the rows committed.
    A failed INSERT is counted by its error code, never retried."""
    connection = database.connect(autocommit=True)
    values = ", ".join(["(%s)"] * ROWS_PER_INSERT)
    committed = 0
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            try:
                cursor.execute(
                    f"INSERT INTO things (name) VALUES {values}", ["x"] * ROWS_PER_INSERT
                )
                committed += ROWS_PER_INSERT
            except pymysql.err.OperationalError as error:
                errors[error.args[0]] += 1
    connection.close()
    return committed


def relay_until(database, stop: threading.Event, target, settings) -> int:
    """Run relays back to back until ``stop`` is set and a run finds nothing; runs made."""
    store = OutboxStore(database.connect(autocommit=True))
    runs = 0
    while True:
        summary = run_relay(store, target, settings)
        runs += 1
        if stop.is_set() and summary.claimed == 0:
            return runs


def test_writers_never_fail_while_two_relays_claim_mark_and_purge(
    things, run_ops, relay_arn, stack
):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(TRIGGER))
    settings = RelaySettings(retention_seconds=0, purge_batch=500, linger_seconds=0)
    target = ImmediateTarget()
    errors: Counter[int] = Counter()
    stop = threading.Event()

    def writers_then_stop():
        committed = run_threads(
            [lambda: write_for(things, WRITE_SECONDS, errors)] * WRITERS, timeout=WRITE_SECONDS + 60
        )
        stop.set()
        return sum(committed)

    results = run_threads(
        [writers_then_stop] + [lambda: relay_until(things, stop, target, settings)] * 2,
        timeout=WRITE_SECONDS + 180,
    )
    committed, *relay_runs = results
    assert dict(errors) == {}  # no 1213 (deadlock), no 1205 (lock wait timeout)
    assert committed > 0 and all(runs > 0 for runs in relay_runs)
    with things.connect().cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM things")
        assert cursor.fetchone()[0] == committed
    assert len(target.received) == committed  # every committed row's event ...
    assert set(target.received.values()) == {1}  # ... once
