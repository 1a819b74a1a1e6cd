"""What the relay does with claimed rows (pure functions, I/O injected): group them by
target, cut them into invocations, read each target's answer, and decide per event:
delivered, retry after a backoff, or parked."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from functions.common.event_batches import BatchAnswer, UnreadableAnswer, read_batch_answer
from functions.relay.outbox import OutboxRow
from functions.relay.target_limits import BatchLimits, TargetLimits


@dataclass(frozen=True)
class RelaySettings:
    """How the relay works; every field is an environment variable of the function."""

    # Rows per claim (one short transaction): two targets' full invocations, since rows of
    # the targets interleave in sequence order (half-full batches otherwise).
    claim_size: int = 2000
    # For a target the catalog declares no limits for (see target_limits below).
    events_per_invocation: int = 1000
    bytes_per_invocation: int = 5_000_000  # Lambda's synchronous payload limit is 6 MB
    # How long claimed rows stay the relay's: no invocation starts unless it can end (its
    # read timeout, below) before the lease does, so a second relay never re-claims and
    # re-sends events that the first one is still sending.
    lease_seconds: float = 120
    # The longest the relay waits for a target's answer: longer than the targets' own
    # timeout (30 s in the catalog), shorter than the lease.
    target_timeout_seconds: float = 45
    max_attempts: int = 8  # then the event is parked
    backoff_base_seconds: float = 5
    backoff_max_seconds: float = 900
    linger_seconds: float = 2  # after a doorbell: the ringing transaction may commit late
    retention_seconds: float = 7 * 24 * 3600
    purge_batch: int = 500
    # Each catalog target's own batch limits (RELAY_TARGET_LIMITS, written by the catalog:
    # functions/relay/target_limits.py).
    target_limits: TargetLimits = field(default_factory=TargetLimits)


@dataclass
class Outcomes:
    """What became of a batch of claimed rows."""

    delivered: list[int] = field(default_factory=list)  # sequences
    # Not sent: the lease would end before an answer could come, or the target stopped
    # before its deadline without attempting them. Due again at once, no error recorded,
    # no attempt counted.
    unsent: list[int] = field(default_factory=list)
    retry: dict[int, str] = field(default_factory=dict)  # sequence -> error
    park: dict[int, str] = field(default_factory=dict)  # sequence -> reason


def by_target(rows: list[OutboxRow]) -> dict[str, list[OutboxRow]]:
    """Rows grouped by target function, each group in sequence order."""
    groups: dict[str, list[OutboxRow]] = {}
    for row in sorted(rows, key=lambda row: row.sequence):
        groups.setdefault(row.target_function, []).append(row)
    return groups


def invocations(rows: list[OutboxRow], settings: RelaySettings) -> Iterator[list[OutboxRow]]:
    """Cut one target's rows into invocations of at most so many events and bytes: the
    target's own limits from the catalog, else the settings' (a target outside it)."""
    if not rows:
        return
    limits = settings.target_limits.for_target(
        rows[0].target_function,
        BatchLimits(settings.events_per_invocation, settings.bytes_per_invocation),
    )
    chunk: list[OutboxRow] = []
    size = 0
    for row in rows:
        row_size = len(row.payload.encode("utf-8")) + 2
        if chunk and (len(chunk) >= limits.events or size + row_size > limits.bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield chunk


def backoff_seconds(attempts: int, settings: RelaySettings) -> float:
    """The wait before attempt ``attempts + 1``: doubling from the base, capped."""
    return min(
        settings.backoff_base_seconds * 2 ** max(attempts - 1, 0), settings.backoff_max_seconds
    )


def outcomes_of(
    rows: list[OutboxRow], answer: BatchAnswer | None, error: str | None, settings: RelaySettings
) -> Outcomes:
    """Each row's outcome from its target's answer (or the invocation's ``error``)."""
    # What the target did not attempt (it stopped before its deadline) is unsent. A
    # target that attempted none of them made no progress: that is its failure.
    unattempted = set(answer.unattempted) if answer is not None else set()
    if unattempted and all(row.event_id in unattempted for row in rows):
        answer, unattempted = None, set()
        error = "the target attempted none of the events before its deadline"
    outcomes = Outcomes()
    for row in rows:
        if answer is not None and row.event_id in answer.rejected:
            outcomes.park[row.sequence] = "rejected by the target: " + answer.rejected[row.event_id]
            continue
        if row.event_id in unattempted:
            outcomes.unsent.append(row.sequence)
            continue
        failure = error if answer is None else answer.failed.get(row.event_id)
        if failure is None:
            outcomes.delivered.append(row.sequence)
        elif row.attempts >= settings.max_attempts:
            outcomes.park[row.sequence] = f"{failure} (after {row.attempts} attempts)"
        else:
            outcomes.retry[row.sequence] = failure
    return outcomes


Invoke = Callable[[str, list[dict]], object]


def deliver(
    rows: list[OutboxRow],
    invoke: Invoke,
    settings: RelaySettings,
    lease_left: Callable[[], float] = lambda: float("inf"),
) -> Outcomes:
    """Send the rows to their targets, one invocation per chunk; collect the outcomes.

    ``invoke(target, events)`` returns the target's answer, or raises for an invocation
    that failed (unreachable, throttled, the function's own error). ``lease_left()`` is the
    rows' remaining lease: a chunk whose answer could come after it is not sent."""
    total = Outcomes()
    for target, group in by_target(rows).items():
        for chunk in invocations(group, settings):
            if lease_left() < settings.target_timeout_seconds:
                total.unsent += [row.sequence for row in chunk]
                continue
            events = [json.loads(row.payload) for row in chunk]
            answer, error = None, None
            try:
                answer = read_batch_answer(invoke(target, events), [r.event_id for r in chunk])
            except UnreadableAnswer as unreadable:
                error = str(unreadable)
            except Exception as failed:  # noqa: BLE001 - any failure of the call: retry later
                error = f"{type(failed).__name__}: {failed}"
            outcomes = outcomes_of(chunk, answer, error, settings)
            total.delivered += outcomes.delivered
            total.unsent += outcomes.unsent
            total.retry.update(outcomes.retry)
            total.park.update(outcomes.park)
    return total
