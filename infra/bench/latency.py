"""Latency from an INSERT's commit to its SNS notification, direct and outbox, on the
local stack with its runtime running: p50/p95/p99 over N events, one row a commit, a
little apart (a latency, not a throughput, measurement). The SNS message's own Timestamp
is the arrival time; both clocks are this machine's."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions.common.database import connect
from infra.bench.watched_rows import insert_rows
from infra.local.inspect import receive_notifications

# The example schema after revision 0004: customer_feedback is direct, orders is outbox.
TABLES = {"direct": "customer_feedback", "outbox": "orders"}


@dataclass(frozen=True)
class LatencyResult:
    mode: str
    events: int
    received: int
    p50: float
    p95: float
    p99: float
    lock_conflicts: int = 0  # INSERTs rolled back for a deadlock or a lock wait (target: 0)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def measure(stack, events: int, spacing_seconds: float = 0.1) -> list[LatencyResult]:
    """Insert ``events`` rows per mode, wait for their notifications, and summarize."""
    receive_notifications(stack.tail_queue_url)  # start from an empty tail queue
    connection = connect(stack.app_settings())
    committed: dict[tuple[str, int], float] = {}
    conflicts = dict.fromkeys(TABLES, 0)
    try:
        for mode, table in TABLES.items():
            for _ in range(events):
                with connection.cursor() as cursor:
                    conflicts[mode] += insert_rows(cursor, mode, 1)
                    row_id = cursor.lastrowid
                committed[(table, row_id)] = time.time()
                time.sleep(spacing_seconds)
    finally:
        connection.close()
    arrived = arrival_times(stack.tail_queue_url, committed, _inserted_row)
    results = []
    for mode, table in TABLES.items():
        delays = [arrived[k] - committed[k] for k in committed if k[0] == table and k in arrived]
        result = summary(mode, events, delays, conflicts[mode])
        if result is not None:
            results.append(result)
    return results


def _inserted_row(event: dict) -> tuple[str, object]:
    return (event["table"], next(iter(event["primary_key"].values())))


def arrival_times(
    tail_queue_url: str, committed: dict, key_of: Callable[[dict], object], seconds: float = 120
) -> dict:
    """When each of ``committed``'s keys reached SNS (its message's own timestamp, epoch
    seconds), reading the tail queue for at most ``seconds``; ``key_of(event)`` names the
    key a notification is for (None: not one of these)."""
    arrived: dict = {}
    deadline = time.monotonic() + seconds
    while len(arrived) < len(committed) and time.monotonic() < deadline:
        for note in receive_notifications(tail_queue_url, wait_seconds=1):
            key = key_of(note.event)
            if key in committed and note.published_at:
                arrived[key] = _epoch(note.published_at)
    return arrived


def summary(
    mode: str, events: int, delays: list[float], lock_conflicts: int = 0
) -> LatencyResult | None:
    """p50/p95/p99 of ``delays`` (None when nothing arrived)."""
    if not delays:
        return None
    return LatencyResult(
        mode,
        events,
        len(delays),
        statistics.median(delays),
        percentile(delays, 0.95),
        percentile(delays, 0.99),
        lock_conflicts,
    )


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
