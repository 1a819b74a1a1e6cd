"""One run of the relay: claim, send, record, until nothing is due (and, after a
doorbell, a little longer), then purge. I/O comes in as the store and ``invoke``.

The rules that keep "every event once per target, again only after a crash":
- A claim leases its rows under a token; every update of them requires it, so a relay that
  lost its lease changes nothing (the outcome is dropped and logged).
- No invocation starts unless every wait it can make ends before the lease does; rows the
  run does not get to are released, due again at once.
- An attempt is counted right before the send; an event that cannot ever be sent (over
  the size limit, a payload that does not decode) is parked at once with the reason.
- Each invocation's outcome is recorded as soon as its answer arrives, so nothing that
  fails later in the run makes delivered events go out again.
- On an ordered outbox, a claim's events of one key and target go in waves: each only
  after the one before it was delivered or parked. A key whose event is to be retried
  keeps its later claimed events until the very same time (not sent); one not attempted
  or whose lease was lost stops, its later events due again at once. When this claim's
  last events of a key are recorded, the events other relays held behind them are made
  due: after the record if some claim held anything since this one (revision 0010's hold
  counter: ``sql/outbox/promote_held.sql``), else in the record's transaction
  (``sql/outbox/promote.sql``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from functions.common.event_batches import BatchAnswer, UnreadableAnswer, read_batch_answer
from functions.relay.delivery import (
    Invoke,
    RelaySettings,
    by_target,
    decode_event,
    finished_keys,
    followers,
    grouped,
    invocations,
    next_wave,
    outcomes_of,
    oversized,
)
from functions.relay.outbox import Claim, Lease, OutboxRow, OutboxStore

LINGER_POLL_SECONDS = 0.1
logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one run did; the relay's answer and its log line."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    parked: int = 0
    # Not sent (no lease time left for an answer, or the target did not try them): due
    # again at once, no attempt used.
    released: int = 0
    # Outcomes dropped because another relay had taken the rows' lease meanwhile.
    lease_lost: int = 0
    # An ordered outbox: claimed events held behind an earlier event of their key that the
    # claim did not hold (not leased), and events kept until their key's failed event is
    # retried (not sent); events other relays held behind this one's, made due again.
    held: int = 0
    waiting_for_retry: int = 0
    promoted: int = 0
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
    promoted = store.promoted
    if not store.exclusive():
        summary.skipped = True
        return summary
    try:
        linger_until = clock() + linger_seconds
        while time_left() > settings.lease_seconds:
            claim = store.claim(
                settings.claim_size,
                settings.lease_seconds,
                settings.claim_bytes,
                settings.max_event_bytes,
                clock,
            )
            if claim is not None:
                summary.held += claim.held
                if not claim.rows and claim.held:
                    continue  # every row it found waits: they left the due rows, claim on
            if claim is None or not claim.rows:
                if clock() >= linger_until:
                    break
                time.sleep(LINGER_POLL_SECONDS)
                continue
            summary.claimed += len(claim.rows)
            sent, released = summary.invocations, summary.released
            ClaimDelivery(store, invoke, settings, claim, summary, clock).run()
            if summary.invocations == sent and summary.released > released:
                break  # the lease ran short before any send: claiming again would spin
        summary.purged = store.purge_delivered(settings.retention_seconds, settings.purge_batch)
        summary.promoted = store.promoted - promoted
    finally:
        store.release_lock()
    return summary


class ClaimDelivery:
    """Sends one claim's rows, invocation by invocation (a key's events in waves),
    recording each outcome at once."""

    def __init__(
        self,
        store: OutboxStore,
        invoke: Invoke,
        settings: RelaySettings,
        claim: Claim,
        summary: RunSummary,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.invoke, self.settings = store, invoke, settings
        self.lease: Lease = claim.lease
        self.rows = claim.rows
        self.summary, self.clock = summary, clock
        # Rows whose fate this run decided, and those of them delivered or parked.
        self.handled: set[int] = set()
        self.settled: set[int] = set()

    def run(self) -> None:
        too_big = {row.sequence: oversized(row, self.settings) for row in self.rows}
        self._park({sequence: reason for sequence, reason in too_big.items() if reason})
        while wave := next_wave(self.rows, self.settled, self.handled):
            chunks = [
                (target, chunk)
                for target, rows in by_target(wave).items()
                for chunk in invocations(rows, self.settings)
            ]
            for target, chunk in chunks:
                if self.lease.seconds_left(self.clock) < self.settings.longest_call_seconds:
                    self._release_rest()
                    return
                self._send(target, chunk)
        self._release_rest()

    def _release_rest(self) -> None:
        """What this run did not get to (the lease runs short, or its key stopped): due
        again at once, no attempt used."""
        rest = [row.sequence for row in self.rows if row.sequence not in self.handled]
        if rest:
            self.handled.update(rest)
            promote = partial(finished_keys, self.rows, rest, self.handled)
            released = self.store.release(self.lease, rest, attempted=False, promote=promote)
            self._record(released, len(rest))
            self.summary.released += len(rest)

    def _send(self, target: str, chunk: list[OutboxRow]) -> None:
        self.handled.update(row.sequence for row in chunk)
        payloads = self.store.load_payloads(self.lease, [row.sequence for row in chunk])
        self._lost(len(chunk) - len(payloads))
        events, sent, bad = [], [], {}
        for row in chunk:
            if row.sequence not in payloads:
                continue
            event, reason = decode_event(row, payloads.pop(row.sequence))
            if reason is not None:
                bad[row.sequence] = reason
            else:
                events.append(event)
                sent.append(row)
        self._park(bad)
        if not sent:
            return
        sequences = [row.sequence for row in sent]
        counted = self.store.start_attempt(self.lease, sequences)
        if counted != len(sent):
            # Another relay took some of these rows: send none of them. What this lease
            # still holds is due again at once, its attempt taken back.
            self._record(self.store.release(self.lease, sequences, attempted=True), counted)
            self._lost(len(sent) - counted)
            self.summary.released += counted
            return
        sent = [replace(row, attempts=row.attempts + 1) for row in sent]
        answer, error = self._call(target, events, [row.event_id for row in sent])
        del events
        self._record_outcomes(sent, answer, error)

    def _call(
        self, target: str, events: list[dict], event_ids: list[str]
    ) -> tuple[BatchAnswer | None, str | None]:
        self.summary.invocations += 1
        try:
            return read_batch_answer(self.invoke(target, events), event_ids), None
        except UnreadableAnswer as unreadable:
            return None, str(unreadable)
        except Exception as failed:  # noqa: BLE001 - any failure of the call: retry later
            return None, f"{type(failed).__name__}: {failed}"

    def _record_outcomes(
        self, sent: list[OutboxRow], answer: BatchAnswer | None, error: str | None
    ) -> None:
        outcomes = outcomes_of(sent, answer, error, self.settings)
        store, lease = self.store, self.lease
        promote = partial(finished_keys, self.rows, outcomes.delivered, self.handled)
        delivered = store.mark_delivered(lease, outcomes.delivered, promote)
        self._settle(outcomes.delivered, delivered)
        self.summary.delivered += len(outcomes.delivered)
        for (delay, failure), sequences in grouped(outcomes.retry).items():
            # The key's later claimed events wait for the same time: they go after it.
            later = followers(self.rows, sequences, self.handled)
            self.handled.update(later)
            promote = partial(finished_keys, self.rows, sequences + later, self.handled)
            retried = store.retry_later(lease, sequences, delay, failure, later, promote)
            self._record(retried, len(sequences) + len(later))
            self.summary.waiting_for_retry += len(later)
        self.summary.retried += len(outcomes.retry)
        self._park(outcomes.park)
        promote = partial(finished_keys, self.rows, outcomes.unattempted, self.handled)
        released = store.release(lease, outcomes.unattempted, attempted=True, promote=promote)
        self._record(released, len(outcomes.unattempted))
        self.summary.released += len(outcomes.unattempted)

    def _park(self, reasons: dict[int, str]) -> None:
        for reason, sequences in grouped(reasons).items():
            self.handled.update(sequences)
            promote = partial(finished_keys, self.rows, sequences, self.handled)
            self._settle(sequences, self.store.park(self.lease, sequences, reason, promote))
        self.summary.parked += len(reasons)

    def _settle(self, sequences: list[int], changed: int) -> None:
        """Rows just recorded delivered or parked (``changed`` of them by this lease): their
        keys go on. If the lease was lost on some, none of them is known settled: their
        keys stop."""
        self._record(changed, len(sequences))
        if changed == len(sequences):
            self.settled.update(sequences)

    def _record(self, changed: int, expected: int) -> None:
        self._lost(expected - changed)

    def _lost(self, count: int) -> None:
        if count > 0:
            self.summary.lease_lost += count
            logger.warning(
                "lease lost: another relay took %d event(s) of this claim; their outcome is "
                "dropped and theirs to record",
                count,
            )
