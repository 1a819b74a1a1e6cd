"""One run of the relay: claim, deliver, record, until nothing is due (and, after a
doorbell, a little longer), then purge. I/O comes in as the store and ``invoke``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from functions.relay.delivery import Invoke, RelaySettings, backoff_seconds, deliver
from functions.relay.outbox import OutboxStore

LINGER_POLL_SECONDS = 0.1


@dataclass
class RunSummary:
    """What one run did; the relay's answer and its log line."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    parked: int = 0
    purged: int = 0
    invocations: int = 0
    skipped: bool = False  # another relay holds the lock (servers without SKIP LOCKED)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def run_relay(
    store: OutboxStore,
    invoke: Invoke,
    settings: RelaySettings,
    *,
    linger_seconds: float = 0,
    time_left: Callable[[], float] = lambda: float("inf"),
    clock: Callable[[], float] = time.monotonic,
) -> RunSummary:
    """Deliver what is due. Stops when a claim comes back empty after ``linger_seconds``,
    or when ``time_left()`` (the Lambda's remaining seconds) is under a lease: what is
    left is claimed by the next run."""
    summary = RunSummary()
    if not store.exclusive():
        summary.skipped = True
        return summary
    counting = _counting(invoke, summary)
    try:
        linger_until = clock() + linger_seconds
        while time_left() > settings.lease_seconds:
            rows = store.claim(settings.claim_size, settings.lease_seconds)
            if not rows:
                if clock() >= linger_until:
                    break
                time.sleep(LINGER_POLL_SECONDS)
                continue
            summary.claimed += len(rows)
            leased_until = clock() + settings.lease_seconds
            outcomes = deliver(
                rows, counting, settings, lease_left=lambda until=leased_until: until - clock()
            )
            store.mark_delivered(outcomes.delivered)
            store.release_unsent(outcomes.unsent)  # the next claim takes them again
            attempts = {row.sequence: row.attempts for row in rows}
            for sequence, error in outcomes.retry.items():
                store.retry_later(sequence, backoff_seconds(attempts[sequence], settings), error)
            for sequence, reason in outcomes.park.items():
                store.park(sequence, reason)
            summary.delivered += len(outcomes.delivered)
            summary.retried += len(outcomes.retry)
            summary.parked += len(outcomes.park)
        summary.purged = store.purge_delivered(settings.retention_seconds, settings.purge_batch)
    finally:
        store.release()
    return summary


def _counting(invoke: Invoke, summary: RunSummary) -> Invoke:
    def counted(target: str, events: list[dict]) -> object:
        summary.invocations += 1
        return invoke(target, events)

    return counted
