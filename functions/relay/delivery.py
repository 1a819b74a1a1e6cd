"""What the relay decides about claimed rows (pure functions, no I/O): which target gets
which invocation (and, on an ordered outbox, which of a key's events go in which wave),
which events can never be sent, and what becomes of each event once its target answered:
delivered, retried after a backoff, parked, or not attempted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from functions.common.config import ConfigurationError
from functions.common.event_batches import BatchAnswer
from functions.common.lambda_limits import REQUEST_RESPONSE_PAYLOAD_BYTES
from functions.relay.outbox import OutboxRow
from functions.relay.target_limits import BatchLimits, TargetLimits

# Lambda's limit for a synchronous invocation's request, and what the batch's envelope
# ({"events": [...]}) adds around one event: an event larger than the difference can never
# be sent, so it is parked without being read.
LAMBDA_SYNC_PAYLOAD_BYTES = REQUEST_RESPONSE_PAYLOAD_BYTES
BATCH_ENVELOPE_BYTES = 64


@dataclass(frozen=True)
class RelaySettings:
    """How the relay works; every field is an environment variable of the function."""

    # Rows per claim (one short transaction): two targets' full invocations, since rows of
    # the targets interleave in sequence order (half-full batches otherwise).
    claim_size: int = 2000
    # Payload bytes per claim. A claim reads no payload (each invocation's are loaded
    # when it is sent), so this bounds what one lease must send, not the relay's memory.
    claim_bytes: int = 20_000_000
    # For a target the catalog declares no limits for (see target_limits below).
    events_per_invocation: int = 1000
    # An invocation's payload bytes: the relay holds one invocation's events at a time
    # (about three times these bytes in memory: the rows, the events, the request).
    bytes_per_invocation: int = 5_000_000
    # An event over this is parked unread (Lambda refuses a larger synchronous request).
    max_event_bytes: int = LAMBDA_SYNC_PAYLOAD_BYTES - BATCH_ENVELOPE_BYTES
    # How long claimed rows stay the relay's. No invocation starts unless every wait it
    # can make (connecting, then the answer) ends before the lease does, so a second relay
    # never re-claims and re-sends events that the first one is still sending.
    lease_seconds: float = 120
    target_connect_timeout_seconds: float = 5
    # The longest the relay waits for a target's answer: longer than the targets' own
    # timeout (30 s in the catalog), shorter than the lease.
    target_timeout_seconds: float = 45
    max_attempts: int = 8  # sends; then the event is parked
    backoff_base_seconds: float = 5
    backoff_max_seconds: float = 900
    linger_seconds: float = 2  # after a doorbell: the ringing transaction may commit late
    retention_seconds: float = 7 * 24 * 3600
    purge_batch: int = 500
    # Each catalog target's own batch limits (RELAY_TARGET_LIMITS, written by the catalog:
    # functions/relay/target_limits.py).
    target_limits: TargetLimits = field(default_factory=TargetLimits)

    def __post_init__(self) -> None:
        if self.longest_call_seconds >= self.lease_seconds:
            raise ConfigurationError(
                "RELAY_TARGET_CONNECT_TIMEOUT_SECONDS + RELAY_TARGET_TIMEOUT_SECONDS must be "
                "shorter than RELAY_LEASE_SECONDS: a relay still waiting for a target when the "
                "lease ends lets another relay send the same events again"
            )

    @property
    def longest_call_seconds(self) -> float:
        """Every wait one invocation can make: connecting, then the answer (no retry)."""
        return self.target_connect_timeout_seconds + self.target_timeout_seconds


# invoke(target, events): the target's answer, or raises for an invocation that failed
# (unreachable, throttled, timed out, the function's own error).
Invoke = Callable[[str, list[dict]], object]


@dataclass
class Outcomes:
    """What became of one invocation's events, by sequence."""

    delivered: list[int] = field(default_factory=list)
    retry: dict[int, tuple[float, str]] = field(default_factory=dict)  # -> (delay, error)
    park: dict[int, str] = field(default_factory=dict)  # -> reason
    # The target stopped before its deadline without trying these: due again at once.
    unattempted: list[int] = field(default_factory=list)


def by_target(rows: list[OutboxRow]) -> dict[str, list[OutboxRow]]:
    """Rows grouped by target function, each group in sequence order."""
    groups: dict[str, list[OutboxRow]] = {}
    for row in sorted(rows, key=lambda row: row.sequence):
        groups.setdefault(row.target_function, []).append(row)
    return groups


# -- a claim's events of one key go in order, in waves ---------------------------------------


def key_of(row: OutboxRow) -> tuple[str, bytes] | None:
    """The (target, ordering key) whose events go in order; None: an unordered event."""
    return None if row.ordering_key is None else (row.target_function, row.ordering_key)


def next_wave(rows: list[OutboxRow], settled: set[int], handled: set[int]) -> list[OutboxRow]:
    """The claim's rows to send next, in sequence order: every unordered row not handled
    yet, and of each key its first row not handled yet, once every earlier claimed row of
    the key is settled. ``handled``: rows whose fate this run decided (sent, parked, due
    again); ``settled``: those of them delivered or parked, which let their key go on. A
    key whose row was handled but not settled (to be retried, not attempted, its lease
    lost) goes no further. Empty: nothing more can go."""
    wave: list[OutboxRow] = []
    stopped: set[tuple[str, bytes]] = set()
    for row in sorted(rows, key=lambda row: row.sequence):
        key = key_of(row)
        if row.sequence in handled:
            if key is not None and row.sequence not in settled:
                stopped.add(key)
        elif key is None:
            wave.append(row)
        elif key not in stopped:
            wave.append(row)
            stopped.add(key)  # its next row goes in a later wave
    return wave


def followers(rows: list[OutboxRow], heads: list[int], handled: set[int]) -> list[int]:
    """The sequences of the claimed rows after ``heads`` of the same keys, not handled yet
    (they go after their head: when it is retried, they wait with it)."""
    first: dict[tuple[str, bytes], int] = {}
    by_sequence = {row.sequence: row for row in rows}
    for sequence in heads:
        key = key_of(by_sequence[sequence])
        if key is not None:
            first[key] = min(sequence, first.get(key, sequence))
    return [
        row.sequence
        for row in sorted(rows, key=lambda row: row.sequence)
        if row.sequence not in handled
        and (key := key_of(row)) in first
        and row.sequence > first[key]
    ]


def finished_keys(
    rows: list[OutboxRow], just_handled: list[int], handled: set[int]
) -> dict[str, dict[bytes, int]]:
    """``{target: {ordering key: its last claimed sequence}}`` of the keys of
    ``just_handled`` whose every claimed row is ``handled`` (delivered, parked, to be
    retried or due again) once these are recorded: this claim holds up nothing of them
    any more, so the events other relays held behind it may be looked at again."""
    just = set(just_handled)
    keys = {key_of(row) for row in rows if row.sequence in just} - {None}
    last: dict[tuple[str, bytes], int] = {}
    for row in rows:
        key = key_of(row)
        if key in keys:
            if row.sequence not in handled and row.sequence not in just:
                keys.discard(key)
            last[key] = max(row.sequence, last.get(key, row.sequence))
    finished: dict[str, dict[bytes, int]] = {}
    for target, ordering_key in sorted(keys):
        finished.setdefault(target, {})[ordering_key] = last[(target, ordering_key)]
    return finished


def oversized(row: OutboxRow, settings: RelaySettings) -> str | None:
    """Why ``row`` can never be sent, or None."""
    if row.payload_bytes > settings.max_event_bytes:
        return (
            f"event of {row.payload_bytes} bytes is over the {settings.max_event_bytes}-byte "
            "limit of one invocation"
        )
    return None


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
        row_size = row.payload_bytes + 2
        if chunk and (len(chunk) >= limits.events or size + row_size > limits.bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield chunk


def decode_event(row: OutboxRow, payload: str) -> tuple[dict | None, str | None]:
    """The event a row's payload holds, or why it can never be sent (a payload that does
    not decode, is not an object, or names another event id than its row)."""
    try:
        event = json.loads(payload)
    except ValueError as error:
        return None, f"payload does not decode as JSON: {error}"
    if not isinstance(event, dict):
        return None, f"payload is not a JSON object: {payload[:100]!r}"
    if event.get("event_id") != row.event_id:
        return None, f"payload's event_id {event.get('event_id')!r} is not its row's"
    return event, None


def backoff_seconds(attempts: int, settings: RelaySettings) -> float:
    """The wait before attempt ``attempts + 1``: doubling from the base, capped."""
    return min(
        settings.backoff_base_seconds * 2 ** max(attempts - 1, 0), settings.backoff_max_seconds
    )


def outcomes_of(
    rows: list[OutboxRow], answer: BatchAnswer | None, error: str | None, settings: RelaySettings
) -> Outcomes:
    """Each sent row's outcome from its target's answer (or the invocation's ``error``).
    ``rows`` were sent in this invocation; their ``attempts`` count it."""
    # What the target did not attempt (it stopped before its deadline) is sent again at
    # once. A target that attempted none of them made no progress: that is its failure
    # (else a target too slow for one event would be invoked in a loop).
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
            outcomes.unattempted.append(row.sequence)
            continue
        failure = error if answer is None else answer.failed.get(row.event_id)
        if failure is None:
            outcomes.delivered.append(row.sequence)
        elif row.attempts >= settings.max_attempts:
            outcomes.park[row.sequence] = f"{failure} (after {row.attempts} attempts)"
        else:
            outcomes.retry[row.sequence] = (backoff_seconds(row.attempts, settings), failure)
    return outcomes


def grouped(outcome: dict[int, object]) -> dict[object, list[int]]:
    """Sequences by shared value (a reason, a delay and error): one update for each."""
    groups: dict[object, list[int]] = {}
    for sequence, value in outcome.items():
        groups.setdefault(value, []).append(sequence)
    return groups
