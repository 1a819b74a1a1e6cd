"""The whole local pipeline, measured from the outside.

* :func:`sustained_rate`: rows inserted in commits of ``commit_rows`` into a watched table
  (``outbox``: ``orders``, relayed; ``direct``: ``customer_feedback``, lambda_async per
  row) as fast as the database takes them, and the rate at which their notifications are
  delivered, per 1,000 events, first to last: a pipeline that slows as notifications pile
  up somewhere shows as falling window rates. A notification's delivery time is what the
  pipeline itself records once SNS has accepted it (the relay's ``delivered_at``, the
  runtime's ``completed_at`` of the ``notify`` call): reading 20,000 notifications back
  through moto's SQS while they arrive would compete with them for moto's CPU (its
  ReceiveMessage and DeleteMessage scan the queue). That each reached SNS's subscriber is
  counted afterwards: the stack's tail queue holds as many more notifications as rows were
  inserted.
* :func:`ingest_latency`: from the POST of an order to the local API to its row being
  visible in the database (API -> ingest -> SQS FIFO -> event source poller -> drain ->
  MariaDB), one request at a time, a little apart.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import boto3

from functions.common.database import connect
from functions.common.resources import resource_named, stored_key
from functions.drain.rows import stored_keys_statement
from infra.bench.latency import percentile
from infra.bench.watched_rows import insert_rows
from infra.database.statements import fetch_all, fetch_value
from infra.local import emulation
from infra.local.stack import APP_DATABASE

ORDERS = resource_named("orders")
WINDOW_EVENTS = 1000  # the sustained rate is reported per this many delivered events
STALL_SECONDS = 120  # no delivery for this long: the run is over, short of its count
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class SustainedResult:
    mode: str
    events: int  # rows inserted, one event each
    delivered: int  # their notifications, as the pipeline recorded them
    received: int  # notifications the tail queue (SNS's subscriber) holds afterwards
    commit_rows: int
    seconds: float  # first commit to last delivery
    lock_conflicts: int  # INSERTs rolled back for a deadlock or a lock wait, then retried
    window_rates: list[float] = field(default_factory=list)  # events/s per WINDOW_EVENTS

    @property
    def events_per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def first_to_last(self) -> float:
        """The first window's rate over the last's (1.0 is flat; above 2 misses the target)."""
        if len(self.window_rates) < 2:
            return 1.0
        return self.window_rates[0] / self.window_rates[-1]


def window_rates(started: float, arrivals: list[float], window: int = WINDOW_EVENTS) -> list[float]:
    """Events per second in consecutive windows of at least ``window`` deliveries, the
    first timed from ``started``. Deliveries that share a time (the relay marks an
    invocation's events delivered at once) stay in one window, so a window ends at a
    delivery; what is left at the end joins the last window."""
    counts: dict[float, int] = {}
    for arrival in arrivals:
        counts[arrival] = counts.get(arrival, 0) + 1
    windows: list[list[float]] = []  # [events, start, end]
    current = [0, started, started]
    for moment in sorted(counts):
        current[0] += counts[moment]
        current[2] = moment
        if current[0] >= window:
            windows.append(current)
            current = [0, moment, moment]
    if current[0]:
        if windows:
            windows[-1] = [windows[-1][0] + current[0], windows[-1][1], current[2]]
        else:
            windows.append(current)
    return [
        events / (end - begin) if end > begin else float("inf") for events, begin, end in windows
    ]


class Deliveries:
    """The delivery times the pipeline records for events written from now on.

    ``direct``: the runtime's ``completed_at`` of each delivered ``notify`` call. ``outbox``:
    the relay records per claim (up to ``claim_size`` events, delivered in invocations of
    ``events_per_invocation``) when it claimed them (their lease's end, less the lease) and
    when they were delivered; notify publishes a claim's events one after another, in order,
    so the k-th of a claim's n events is placed at k/n of that interval. (Taking each
    event's time from the claim's end alone would make windows of 1,000 events swing
    between two relays that finish their claims a moment apart.)"""

    def __init__(self, stack, mode: str) -> None:
        self.mode = mode
        self.notify = stack.deployment.resource_name("notify")
        self.lease = timedelta(seconds=relay_lease_seconds(stack))
        self.app = connect(stack.app_settings())
        self.admin = stack.db.connect_root()
        if mode == "outbox":
            self.after = fetch_value(self.app, "bench/outbox_last_sequence.sql")
        else:
            self.after = emulation.last_call_id(self.admin)

    def times(self) -> list[float]:
        """Epoch seconds of each delivery so far."""
        if self.mode == "outbox":
            rows = fetch_all(self.app, "bench/outbox_delivered_since.sql", self.after)
            stamps = spread_over_claims(rows, self.lease)
        else:
            rows = emulation.completed_calls_since(self.admin, self.notify, self.after)
            stamps = [completed for status, completed in rows if status == "succeeded"]
        return [stamp.replace(tzinfo=UTC).timestamp() for stamp in stamps]

    def wait_for(self, count: int, stall_seconds: float) -> list[float]:
        """Delivery times once ``count`` events are delivered, or none was for ``stall_seconds``."""
        seen, progress = 0, time.monotonic()
        while True:
            times = self.times()
            if len(times) >= count or time.monotonic() - progress > stall_seconds:
                return times
            if len(times) > seen:
                seen, progress = len(times), time.monotonic()
            time.sleep(POLL_SECONDS)

    def close(self) -> None:
        self.app.close()
        self.admin.close()


def sustained_rate(
    stack, mode: str, events: int, commit_rows: int = 100, stall_seconds: float = STALL_SECONDS
) -> SustainedResult:
    """Insert ``events`` rows into ``mode``'s table in commits of ``commit_rows`` rows (one
    multi-row INSERT each), as fast as the database takes them, and time their deliveries
    (the stack's runtime must be running)."""
    sqs = boto3.client("sqs")
    settle(stack)  # what earlier sections wrote is delivered: the count starts clean
    waiting_before = tail_depth(sqs, stack.tail_queue_url)
    deliveries = Deliveries(stack, mode)
    try:
        started = time.time()
        lock_conflicts = 0
        with deliveries.app.cursor() as cursor:
            for start in range(0, events, commit_rows):
                lock_conflicts += insert_rows(cursor, mode, min(commit_rows, events - start))
        arrivals = deliveries.wait_for(events, stall_seconds)
    finally:
        deliveries.close()
    # Left in the queue: a purge is refused within 60 s of another, and the notifications
    # waiting there cost each later publish nothing (infra/local/moto_sqs.py).
    received = tail_depth(sqs, stack.tail_queue_url) - waiting_before
    return SustainedResult(
        mode,
        events,
        len(arrivals),
        received,
        commit_rows,
        max(arrivals) - started if arrivals else 0.0,
        lock_conflicts,
        window_rates(started, arrivals),
    )


def relay_lease_seconds(stack) -> float:
    """The lease the stack's relay sets on the rows it claims."""
    # Imported here: the handler module makes its Lambda client on import (a region needed).
    from functions.relay.handler import settings_from_env

    return settings_from_env(stack.settings.relay_environment).lease_seconds


def spread_over_claims(rows, lease: timedelta) -> list[datetime]:
    """Delivery times of outbox events from ``(lease_end, delivered_at)`` rows in sequence
    order: each claim's events (one lease end, one delivery time) spread evenly, in order,
    from the claim (its lease's end less ``lease``) to the delivery."""
    claims: dict[tuple, int] = {}
    for lease_end, delivered in rows:
        if delivered is not None:
            claims[(lease_end, delivered)] = claims.get((lease_end, delivered), 0) + 1
    times = []
    for (lease_end, delivered), count in claims.items():
        claimed = min(lease_end - lease, delivered)
        times += [claimed + (delivered - claimed) * (k / count) for k in range(1, count + 1)]
    return times


def settle(stack, timeout: float = STALL_SECONDS) -> None:
    """Wait until no outbox event waits and no Lambda call from the stack's database is
    pending or running (or ``timeout`` seconds passed)."""
    app, admin = connect(stack.app_settings()), stack.db.connect_root()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = emulation.event_call_counts(admin, APP_DATABASE)
            waiting = fetch_value(app, "bench/outbox_waiting.sql")
            if not waiting and not busy.get("pending") and not busy.get("running"):
                return
            time.sleep(POLL_SECONDS)
    finally:
        app.close()
        admin.close()


def tail_depth(sqs, queue_url: str) -> int:
    """How many notifications wait in the tail queue (each SNS publish is delivered to it
    before the publish returns, so none is on its way once their calls finished)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


# -- end to end: API request to row -------------------------------------------------------


@dataclass(frozen=True)
class IngestLatencyResult:
    requests: int
    stored: int  # rows that became visible
    p50: float
    p95: float
    p99: float


BENCH_ORDER = {"customer_id": 7, "amount": "12.50", "currency": "EUR"}  # as validated


def post_order(api_url: str, key: str) -> int:
    """POST one order to the local API; its HTTP status."""
    request = urllib.request.Request(
        api_url.rstrip("/") + "/orders",
        data=json.dumps(BENCH_ORDER).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status


def ingest_latency(
    stack, requests: int, spacing_seconds: float = 0.05, poll_seconds: float = 0.005
) -> IngestLatencyResult:
    """Post ``requests`` orders one at a time; a watcher reads which keys are stored every
    ``poll_seconds`` (the figures are that coarse) and times each from just before its POST."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    lock = threading.Lock()
    done = threading.Event()

    def pending() -> list[str]:
        with lock:
            return [key for key in sent if key not in seen]

    watcher = threading.Thread(
        target=_watch_keys, args=(stack, pending, seen, lock, done, poll_seconds), daemon=True
    )
    watcher.start()
    try:
        for number in range(requests):
            key = f"{prefix}{number}"
            with lock:  # watched under the key the row is stored under
                sent[stored_key(ORDERS, BENCH_ORDER, key, stack.api.principal)] = time.monotonic()
            status = post_order(stack.api.url, key)
            if status != 202:
                raise RuntimeError(f"the local API answered {status} to an order")
            time.sleep(spacing_seconds)
        deadline = time.monotonic() + 60
        while pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        watcher.join(10)
    delays = [seen[key] - sent[key] for key in sent if key in seen]
    if not delays:
        return IngestLatencyResult(requests, 0, 0.0, 0.0, 0.0)
    return IngestLatencyResult(
        requests,
        len(delays),
        statistics.median(delays),
        percentile(delays, 0.95),
        percentile(delays, 0.99),
    )


def _watch_keys(stack, pending: Callable[[], list[str]], seen, lock, done, poll_seconds) -> None:
    connection = connect(stack.app_settings())
    try:
        while not done.is_set():
            keys = pending()
            if keys:
                with connection.cursor() as cursor:  # the drain's own query
                    cursor.execute(stored_keys_statement(ORDERS, len(keys)), keys)
                    found = [key for key, _body_hash in cursor.fetchall()]
                now = time.monotonic()
                with lock:
                    for key in found:
                        seen.setdefault(key, now)
            done.wait(poll_seconds)
    finally:
        connection.close()
