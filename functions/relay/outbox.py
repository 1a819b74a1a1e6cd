"""The outbox table as the relay uses it: claim due rows under a lease, load and count
what it sends, record what became of it, purge delivered rows. Every statement is a file
under ``sql/outbox/``; each update of claimed rows requires the claim's lease token.
The table's name, its rows' states and the helpers shared with the migrations and the
operator's commands are in ``functions/common/outbox_table.py``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pymysql

import sql
from functions.common.outbox_table import for_sequences, has_ordering_key


@dataclass(frozen=True)
class OutboxRow:
    """One claimed event for one target, without its payload (loaded when it is sent);
    ``attempts`` counts the sends before this one."""

    sequence: int
    event_id: str
    target_function: str
    payload_bytes: int
    attempts: int


@dataclass(frozen=True)
class Lease:
    """A claim's hold on its rows. ``token`` is the lease's end by the server's clock,
    written into the rows' ``next_attempt_at``; every update of the rows requires it, so a
    relay whose lease ran out and was re-claimed changes nothing. ``ends_at`` is the same
    end by the relay's own clock, started before the claim's statements: never later than
    the server's."""

    token: datetime
    ends_at: float

    def seconds_left(self, clock: Callable[[], float] = time.monotonic) -> float:
        return self.ends_at - clock()


@dataclass(frozen=True)
class Claim:
    lease: Lease
    rows: list[OutboxRow]


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
    """The claim's SQL file: with SKIP LOCKED or under the named lock, each key's head
    only (an ordered outbox) or every due row."""
    if ordered:
        if skip_locked:
            return "outbox/claim_due_ordered.sql"
        return "outbox/claim_due_ordered_locking.sql"
    return "outbox/claim_due.sql" if skip_locked else "outbox/claim_due_locking.sql"


def held_back(cursor, sequences: list[int]) -> set[int]:
    """Of the claimed ``sequences``, those with an earlier waiting event of their ordering
    key and target (``sql/outbox/held_back.sql``)."""
    cursor.execute(for_sequences("outbox/held_back.sql", len(sequences)), sequences)
    return {int(sequence) for (sequence,) in cursor.fetchall()}


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
    ) -> None:
        """``skip_locked``: known already (a container asks its server once), or asked now.
        ``ordered``: claim each ordering key's events one at a time, in order (the outbox
        has revision 0008's ``ordering_key``); asked now when None, so a relay follows the
        schema's revision from its next run."""
        self.connection = connection
        with connection.cursor() as cursor:
            (statement,) = sql.render("outbox/read_committed.sql")
            cursor.execute(statement)
            if skip_locked is None:
                cursor.execute("SELECT VERSION()")
                skip_locked = supports_skip_locked(str(cursor.fetchone()[0]))
            if ordered is None:
                ordered = has_ordering_key(cursor)
        self.skip_locked = skip_locked
        self.ordered = ordered

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

        On an ordered outbox, only each (target, ordering key)'s oldest waiting event is
        taken: the claim's rows are looked at again in a second statement
        (``sql/outbox/held_back.sql`` says why) and those with an earlier waiting event
        are let go unleased."""
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
                server_now = found[0][5]
                if self.ordered:
                    held = held_back(cursor, [row[0] for row in found])
                    found = [row for row in found if row[0] not in held]
                    if not found:
                        self.connection.commit()
                        return None
                rows = within_bytes(
                    [OutboxRow(*map_row(row[:5])) for row in found], max_bytes, max_event_bytes
                )
                token = server_now + timedelta(microseconds=int(lease_seconds * 1_000_000))
                lease = for_sequences("outbox/lease_claimed.sql", len(rows))
                cursor.execute(lease, (token, *[row.sequence for row in rows]))
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        return Claim(Lease(token, started + lease_seconds), rows)

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

    def mark_delivered(self, lease: Lease, sequences: list[int]) -> int:
        """Record events as delivered; how many the lease still held."""
        return self._update("outbox/mark_delivered.sql", (), lease, sequences)

    def retry_later(
        self, lease: Lease, sequences: list[int], delay_seconds: float, error: str
    ) -> int:
        """Make events due again after ``delay_seconds``, with the error."""
        return self._update(
            "outbox/retry_later.sql",
            (int(delay_seconds * 1_000_000), error[:2000]),
            lease,
            sequences,
        )

    def park(self, lease: Lease, sequences: list[int], reason: str) -> int:
        """Stop trying events, with the reason."""
        return self._update("outbox/park.sql", (reason[:2000],), lease, sequences)

    def release(self, lease: Lease, sequences: list[int], attempted: bool) -> int:
        """Make events due again at once; ``attempted``: take back the attempt counted."""
        return self._update("outbox/release.sql", (1 if attempted else 0,), lease, sequences)

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

    def _update(self, name: str, leading: tuple, lease: Lease, sequences: list[int]) -> int:
        if not sequences:
            return 0
        statement = for_sequences(name, len(sequences))
        with self.connection.cursor() as cursor:
            changed = cursor.execute(statement, (*leading, lease.token, *sequences))
        self.connection.commit()
        return changed


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
