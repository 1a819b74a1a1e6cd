"""The outbox table as the relay uses it: claim due rows under a lease, load and count
what it sends, record what became of it, purge delivered rows. Every statement is a file
under ``sql/outbox/``; each update of claimed rows requires the claim's lease token.
The table's name, its rows' states and the helpers shared with the migrations and the
operator's commands are in ``functions/common/outbox_table.py``."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pymysql

import sql
from functions.common.outbox_table import for_lists, for_sequences, has_ordering_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxRow:
    """One claimed event for one target, without its payload (loaded when it is sent);
    ``attempts`` counts the sends before this one."""

    sequence: int
    event_id: str
    target_function: str
    payload_bytes: int
    attempts: int
    # Revision 0008's key of the event's row (None: unordered, or an outbox without it).
    ordering_key: bytes | None = None


@dataclass(frozen=True)
class Lease:
    """A claim's hold on its rows. ``token`` is the lease's end by the server's clock,
    written into the rows' ``next_attempt_at``; every update of the rows requires it, so a
    relay whose lease ran out and was re-claimed changes nothing. ``ends_at`` is the same
    end by the relay's own clock, started before the claim's statements: never later than
    the server's."""

    token: datetime
    ends_at: float
    # The hold counter as the claim saw it (revision 0010: holds_seen.sql); None without
    # one: every record that finishes rows looks for held events, in its transaction.
    holds_seen: int | None = None

    def seconds_left(self, clock: Callable[[], float] = time.monotonic) -> float:
        return self.ends_at - clock()


@dataclass(frozen=True)
class Claim:
    """The rows a claim leased (possibly none, on an ordered outbox) and how many it held
    back instead, not due until the earlier event they wait for is tried again."""

    lease: Lease
    rows: list[OutboxRow]
    held: int = 0


def supports_skip_locked(version: str) -> bool:
    """``SELECT VERSION()`` of a server with ``FOR UPDATE SKIP LOCKED``: MySQL 8.0.1+
    (Aurora v3) or MariaDB 10.6+; Aurora v2 (MySQL 5.7) lacks it."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if not match:
        return False
    major, minor, patch = map(int, match.groups())
    if "mariadb" in version.lower():
        return (major, minor) >= (10, 6)
    return (major, minor, patch) >= (8, 0, 1)


def claim_statement(skip_locked: bool, ordered: bool) -> str:
    """The claim's SQL file: with SKIP LOCKED or under the named lock, with each row's
    ordering key (an ordered outbox) or without."""
    if ordered:
        if skip_locked:
            return "outbox/claim_due_ordered.sql"
        return "outbox/claim_due_ordered_locking.sql"
    return "outbox/claim_due.sql" if skip_locked else "outbox/claim_due_locking.sql"


def all_waiting_claimed(cursor, sequences: list[int]) -> bool:
    """Whether every waiting event up to the last of the claimed ``sequences`` is one of
    them (``sql/outbox/waiting_up_to.sql``): then none waits behind an event outside the
    claim, and the second look is not needed."""
    (statement,) = sql.render("outbox/waiting_up_to.sql")
    cursor.execute(statement, (max(sequences),))
    return cursor.fetchone()[0] == len(sequences)


def blocked_until(cursor, sequences: list[int]) -> dict[int, datetime]:
    """Of the claimed ``sequences``, those with an earlier waiting event of their ordering
    key and target outside the claim, and when the earliest such event is next tried
    (``sql/outbox/held_behind.sql``)."""
    statement = for_sequences("outbox/held_behind.sql", len(sequences))
    cursor.execute(statement, (*sequences, *sequences))
    return {int(sequence): until for sequence, until in cursor.fetchall()}


def held_rows(rows: list[OutboxRow], blocked: dict[int, datetime]) -> dict[int, datetime]:
    """``{sequence: until}`` of the claimed ``rows`` that wait: each row ``blocked`` names,
    and every later claimed row of its key and target, until the same time (a key's events
    go in order: none goes before the one before it)."""
    held: dict[int, datetime] = {}
    if not blocked:
        return held
    waiting: dict[tuple[str, bytes], datetime] = {}
    for row in sorted(rows, key=lambda row: row.sequence):
        if row.ordering_key is None:
            continue
        key = (row.target_function, row.ordering_key)
        until = waiting.get(key, blocked.get(row.sequence))
        if until is not None:
            waiting[key] = held[row.sequence] = until
    return held


def hold(cursor, holds: dict[int, datetime], server_now: datetime) -> list[int]:
    """Held rows not due until their blocker is next tried (``sql/outbox/hold.sql``), one
    statement a time; their sequences. A row whose blocker is due already (locked by
    another relay's claim) stays due: it is only not leased."""
    by_time: dict[datetime, list[int]] = {}
    for sequence, until in holds.items():
        if until > server_now:
            by_time.setdefault(until, []).append(sequence)
    for until, sequences in by_time.items():
        cursor.execute(for_sequences("outbox/hold.sql", len(sequences)), (until, *sequences))
    return [sequence for sequences in by_time.values() for sequence in sequences]


# The server's answers when the hold counter is not there (revision 0010 not applied) or
# the relay's account may not use it (its grants not given again since): no such table,
# a statement or a column the account may not use.
NO_HOLD_COUNTER = (1146, 1142, 1143)


def hold_counter_usable(cursor) -> bool:
    """Whether the hold counter (revision 0010) is there and this account may read and
    update it: asked by using it (``sql/outbox/holds_seen.sql``, and
    ``count_holds.sql`` adding nothing). A counter the account may not use is logged:
    the relay then works as without one (slower), and the doctor names the grant."""
    try:
        read_holds(cursor)
        count_holds(cursor, 0)
    except pymysql.err.MySQLError as error:
        if error.args[0] not in NO_HOLD_COUNTER:
            raise
        if error.args[0] != 1146:
            logger.warning(
                "the outbox's hold counter is not usable, promoting on every record: %s",
                error.args[1],
            )
        return False
    return True


def within_bytes(rows: list[OutboxRow], max_bytes: int, max_event_bytes: int) -> list[OutboxRow]:
    """The first rows whose payloads add up to at most ``max_bytes`` (at least one row).
    A row over ``max_event_bytes`` is never loaded (it is parked unread), so it counts for
    nothing."""
    taken, total = [], 0
    for row in rows:
        size = row.payload_bytes if row.payload_bytes <= max_event_bytes else 0
        if taken and total + size > max_bytes:
            break
        taken.append(row)
        total += size
    return taken


class OutboxStore:
    """The relay's statements on one connection, in a READ COMMITTED session (see
    ``sql/outbox/read_committed.sql``); each write is its own short transaction."""

    def __init__(
        self,
        connection: pymysql.connections.Connection,
        skip_locked: bool | None = None,
        ordered: bool | None = None,
        hold_counter: bool | None = None,
    ) -> None:
        """``skip_locked``: known already (a container asks its server once), or asked now.
        ``ordered``: claim each ordering key's events in order (the outbox has revision
        0008's ``ordering_key``); ``hold_counter``: an ordered outbox's records look for
        held events only when some claim held any (revision 0010's hold counter, usable
        by this account); both asked now when None, so a relay follows the schema's
        revision from its next run."""
        self.connection = connection
        with connection.cursor() as cursor:
            (statement,) = sql.render("outbox/read_committed.sql")
            cursor.execute(statement)
            if skip_locked is None:
                cursor.execute("SELECT VERSION()")
                skip_locked = supports_skip_locked(str(cursor.fetchone()[0]))
            if ordered is None:
                ordered = has_ordering_key(cursor)
            if hold_counter is None:
                hold_counter = ordered and hold_counter_usable(cursor)
        self.skip_locked = skip_locked
        self.ordered = ordered
        self.hold_counter = hold_counter
        self.promoted = 0  # events held by other relays that this one's records made due

    def claim(
        self,
        limit: int,
        lease_seconds: float,
        max_bytes: int,
        max_event_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> Claim | None:
        """Take up to ``limit`` due rows in sequence order, at most ``max_bytes`` of
        payload, and lease them, in one short transaction; rows another relay holds are
        skipped (or, without SKIP LOCKED, the caller holds :meth:`exclusive`). None when
        nothing is due. No payload is read here.

        On an ordered outbox a claim may take several events of one key (the relay sends
        them in order, in waves); a claimed row with an earlier waiting event of its key
        and target outside the claim is looked up in a second statement
        (``sql/outbox/held_behind.sql`` says why) and held, not leased: not due until that
        event is next tried (``sql/outbox/hold.sql``), or until a relay that delivers it
        makes it due (the recording methods' ``promote``). A claim that may hold counts
        itself in the hold counter first (``sql/outbox/count_holds.sql``), when there is
        one."""
        (claim,) = sql.render(claim_statement(self.skip_locked, self.ordered))
        started = clock()
        self.connection.begin()
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(claim, (limit,))
                found = cursor.fetchall()
                if not found:
                    self.connection.commit()
                    return None
                server_now = found[0][-1]
                rows = [
                    OutboxRow(*map_row(row[:5]), ordering_key=row[5] if self.ordered else None)
                    for row in found
                ]
                held, holds_seen = 0, None
                if self.ordered:
                    holds, counted = self._holds(cursor, rows)
                    rows = [row for row in rows if row.sequence not in holds]
                    written = hold(cursor, holds, server_now)
                    held = len(written)
                    if counted and written:
                        (statement,) = sql.render("outbox/held_up_to.sql")
                        cursor.execute(statement, (max(written),))
                    elif counted:
                        count_holds(cursor, -1)  # it held nothing after all
                    if self.hold_counter:
                        holds_seen = read_holds(cursor)
                rows = within_bytes(rows, max_bytes, max_event_bytes)
                token = server_now + timedelta(microseconds=int(lease_seconds * 1_000_000))
                if rows:
                    lease = for_sequences("outbox/lease_claimed.sql", len(rows))
                    cursor.execute(lease, (token, *[row.sequence for row in rows]))
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        return Claim(Lease(token, started + lease_seconds, holds_seen), rows, held)

    def _holds(self, cursor, rows: list[OutboxRow]) -> tuple[dict[int, datetime], bool]:
        """The claimed ``rows`` to hold, and until when (see :meth:`claim`); and whether
        the claim counted itself in the hold counter before it looked."""
        sequences = [row.sequence for row in rows]
        if all_waiting_claimed(cursor, sequences):
            return {}, False
        if self.hold_counter:
            count_holds(cursor, 1)
        return held_rows(rows, blocked_until(cursor, sequences)), self.hold_counter

    def exclusive(self) -> bool:
        """Where the server has no SKIP LOCKED: take the relays' named lock (True), or
        learn that another relay holds it (False). Always True otherwise."""
        if self.skip_locked:
            return True
        (statement,) = sql.render("outbox/relay_lock.sql")
        with self.connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchone()[0] == 1

    def release_lock(self) -> None:
        """Give back the named lock of :meth:`exclusive` (servers without SKIP LOCKED)."""
        if not self.skip_locked:
            (statement,) = sql.render("outbox/relay_unlock.sql")
            with self.connection.cursor() as cursor:
                cursor.execute(statement)

    def load_payloads(self, lease: Lease, sequences: list[int]) -> dict[int, str]:
        """``{sequence: payload}`` of the rows the lease still holds."""
        if not sequences:
            return {}
        statement = for_sequences("outbox/load_payloads.sql", len(sequences))
        with self.connection.cursor() as cursor:
            cursor.execute(statement, (lease.token, *sequences))
            return dict(cursor.fetchall())

    def start_attempt(self, lease: Lease, sequences: list[int]) -> int:
        """Count an attempt for the events about to be sent; how many the lease still held."""
        return self._update("outbox/start_attempt.sql", (), lease, sequences)

    # The recording statements below take ``promote``: a function of no arguments that
    # names the keys this lease is done with once they are recorded (:data:`Promotion`).
    # If the lease still held every row, the events other relays held behind them are
    # made due: after the record, if the hold counter moved since the claim
    # (``sql/outbox/holds_settled.sql``, ``promote_held.sql``); without a hold counter,
    # always, in the record's transaction (``sql/outbox/promote.sql``).

    def mark_delivered(
        self, lease: Lease, sequences: list[int], promote: Promoting | None = None
    ) -> int:
        """Record events as delivered; how many the lease still held."""
        return self._update("outbox/mark_delivered.sql", (), lease, sequences, promote)

    def retry_later(
        self,
        lease: Lease,
        sequences: list[int],
        delay_seconds: float,
        error: str,
        followers: list[int] | None = None,
        promote: Promoting | None = None,
    ) -> int:
        """Make events due again after ``delay_seconds``, with the error; and their keys'
        later claimed events (``followers``, not sent) at the very same time, attempts and
        error unchanged (``sql/outbox/retry_key_later.sql``). How many of both the lease
        still held."""
        delay = int(delay_seconds * 1_000_000)
        if not followers:
            return self._update(
                "outbox/retry_later.sql", (delay, error[:2000]), lease, sequences, promote
            )
        everything = [*sequences, *followers]
        statement = for_lists(
            "outbox/retry_key_later.sql", failed=len(sequences), sequences=len(everything)
        )
        parameters = (delay, *sequences, error[:2000], lease.token, *everything)
        return self._run(statement, parameters, lease, everything, promote)

    def park(
        self, lease: Lease, sequences: list[int], reason: str, promote: Promoting | None = None
    ) -> int:
        """Stop trying events, with the reason."""
        return self._update("outbox/park.sql", (reason[:2000],), lease, sequences, promote)

    def release(
        self,
        lease: Lease,
        sequences: list[int],
        attempted: bool,
        promote: Promoting | None = None,
    ) -> int:
        """Make events due again at once; ``attempted``: take back the attempt counted."""
        return self._update(
            "outbox/release.sql", (1 if attempted else 0,), lease, sequences, promote
        )

    def purge_delivered(self, retention_seconds: float, batch: int) -> int:
        """Delete up to ``batch`` delivered rows older than the retention, by primary key;
        how many."""
        (find,) = sql.render("outbox/purgeable.sql")
        with self.connection.cursor() as cursor:
            cursor.execute(find, (int(retention_seconds), batch))
            sequences = [sequence for (sequence,) in cursor.fetchall()]
            if not sequences:
                return 0
            delete = for_sequences("outbox/purge_delivered.sql", len(sequences))
            deleted = cursor.execute(delete, sequences)
        self.connection.commit()
        return deleted

    def pending_status(self) -> PendingStatus:
        """The waiting and parked events, from the undelivered rows alone (one statement:
        the relay reads it once a run, for its metrics)."""
        (statement,) = sql.render("outbox/pending_status.sql")
        with self.connection.cursor() as cursor:
            cursor.execute(statement)
            pending, parked, oldest = cursor.fetchone()
        return PendingStatus(int(pending), int(parked), None if oldest is None else float(oldest))

    def _promote_after_record(self, lease: Lease, promote: Promoting) -> None:
        """After a record: while the hold counter moved since the claim (then since the
        last promotion), make the events held until this lease's end due. Again after
        each promotion: a claim that looked before it committed may have held a later
        event behind one it promoted, until this lease's end too (the held event's time)."""
        seen, keys = lease.holds_seen, None
        with self.connection.cursor() as cursor:
            while True:
                holds, held_up_to = settled_holds(cursor)
                if holds == seen:
                    return
                keys = promote() if keys is None else keys
                self.promoted += promote_after_record(cursor, keys, lease.token, held_up_to)
                self.connection.commit()
                seen = holds

    def _update(
        self,
        name: str,
        leading: tuple,
        lease: Lease,
        sequences: list[int],
        promote: Promoting | None = None,
    ) -> int:
        if not sequences:
            return 0
        statement = for_sequences(name, len(sequences))
        parameters = (*leading, lease.token, *sequences)
        return self._run(statement, parameters, lease, sequences, promote)

    def _run(
        self,
        statement: str,
        parameters: tuple,
        lease: Lease,
        sequences: list[int],
        promote: Promoting | None,
    ) -> int:
        """One recording statement of ``sequences`` and, when it changed every one, the
        promotion of what others held behind them; how many rows it changed."""
        in_record = promote is not None and self.ordered and lease.holds_seen is None
        after_record = promote is not None and lease.holds_seen is not None
        if in_record:
            # One transaction even on an autocommit connection (the relay's): a claim must
            # never see the record without the promotion (promote.sql).
            self.connection.begin()
        try:
            with self.connection.cursor() as cursor:
                changed = cursor.execute(statement, parameters)
                if in_record and changed == len(sequences):
                    self.promoted += promote_in_record(cursor, promote())
            self.connection.commit()
            if after_record and changed == len(sequences):
                self._promote_after_record(lease, promote)
        except BaseException:
            self.connection.rollback()
            raise
        return changed


# {target: {ordering key: the lease's last claimed sequence of it}}: keys a lease is done
# with (OutboxStore's recording methods take a function that returns it: only a promotion
# needs it).
Promotion = dict[str, dict[bytes, int]]
Promoting = Callable[[], Promotion]


# promotion_candidates' bound on an outbox without the hold counter: none (BIGINT UNSIGNED).
EVERY_SEQUENCE = 2**64 - 1


def promotion_candidates(cursor, last: list[int], up_to: int) -> list[int]:
    """The waiting events of the keys whose last claimed events are ``last``, after them
    and up to sequence ``up_to`` (``sql/outbox/promote_candidates.sql``), in sequence
    order."""
    statement = for_sequences("outbox/promote_candidates.sql", len(last))
    cursor.execute(statement, (up_to, *sorted(last)))
    return sorted({int(sequence) for (sequence,) in cursor.fetchall()})


def promote_in_record(cursor, promote: Promotion) -> int:
    """``sql/outbox/promote.sql`` for each target of ``promote``, in the record's
    transaction (an outbox without the hold counter): the waiting events of its keys after
    the lease's last claimed one due at once; how many changed."""
    promoted = 0
    for target, keys in promote.items():
        candidates = promotion_candidates(cursor, list(keys.values()), EVERY_SEQUENCE)
        if candidates:
            statement = for_sequences("outbox/promote.sql", len(candidates))
            promoted += cursor.execute(statement, (target, *candidates))
    return promoted


def promote_after_record(cursor, promote: Promotion, token: datetime, held_up_to: int) -> int:
    """``sql/outbox/promote_held.sql`` for each target of ``promote``, after the record
    committed: its keys' later events (up to ``held_up_to``, the greatest sequence any claim
    held) held until the lease's end (``token``) due at once; how many changed."""
    promoted = 0
    for target, keys in promote.items():
        candidates = promotion_candidates(cursor, list(keys.values()), held_up_to)
        if candidates:
            statement = for_sequences("outbox/promote_held.sql", len(candidates))
            promoted += cursor.execute(statement, (token, target, *candidates))
    return promoted


def count_holds(cursor, change: int) -> None:
    """Add ``change`` to the hold counter (``sql/outbox/count_holds.sql``)."""
    (statement,) = sql.render("outbox/count_holds.sql")
    cursor.execute(statement, (change,))


def read_holds(cursor) -> int:
    """The hold counter as a claim sees it (``sql/outbox/holds_seen.sql``)."""
    (statement,) = sql.render("outbox/holds_seen.sql")
    cursor.execute(statement)
    return int(cursor.fetchone()[0])


def settled_holds(cursor) -> tuple[int, int]:
    """The hold counter and the greatest sequence held, once no claim is writing holds
    (``sql/outbox/holds_settled.sql``)."""
    (statement,) = sql.render("outbox/holds_settled.sql")
    cursor.execute(statement)
    holds, held_up_to = cursor.fetchone()
    return int(holds), int(held_up_to)


def map_row(row) -> tuple:
    sequence, event_id, target, payload_bytes, attempts = row
    return int(sequence), event_id, target, int(payload_bytes or 0), int(attempts)


@dataclass(frozen=True)
class PendingStatus:
    """What the relay reports each run: events waiting (due, leased or backing off),
    events parked, and the age of the oldest waiting one (None when none waits)."""

    pending: int
    parked: int
    oldest_pending_seconds: float | None
