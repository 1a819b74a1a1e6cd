"""The outbox table as the relay uses it: claim due rows, record what became of them,
purge delivered ones. Every statement is a file under ``sql/outbox/``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pymysql

import sql

# The one table of the outbox: created by migrations/event_outbox.py, written by outbox
# triggers, granted to the relay. Python names it from here; the SQL files under sql/
# spell it out (SQL text cannot import).
OUTBOX_TABLE = "aurora_events_outbox"


@dataclass(frozen=True)
class OutboxRow:
    """One claimed event for one target; ``attempts`` counts this one."""

    sequence: int
    event_id: str
    target_function: str
    payload: str
    attempts: int


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


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


class OutboxStore:
    """The relay's statements on one connection (autocommit off within a claim)."""

    def __init__(
        self, connection: pymysql.connections.Connection, skip_locked: bool | None = None
    ) -> None:
        """``skip_locked``: known already (a container asks its server once), or asked now."""
        self.connection = connection
        if skip_locked is None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT VERSION()")
                skip_locked = supports_skip_locked(str(cursor.fetchone()[0]))
        self.skip_locked = skip_locked

    def claim(self, limit: int, lease_seconds: float) -> list[OutboxRow]:
        """Take up to ``limit`` due rows in sequence order and lease them, in one short
        transaction; rows another relay holds are skipped (or, without SKIP LOCKED, the
        caller holds :meth:`exclusive`)."""
        statement = "outbox/claim_due.sql" if self.skip_locked else "outbox/claim_due_locking.sql"
        (claim,) = sql.render(statement)
        self.connection.begin()
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(claim, (limit,))
                rows = [
                    OutboxRow(sequence, event_id, target, payload, attempts + 1)
                    for sequence, event_id, target, payload, attempts in cursor.fetchall()
                ]
                if rows:
                    (lease,) = sql.render(
                        "outbox/lease_claimed.sql", sequences=placeholders(len(rows))
                    )
                    cursor.execute(
                        lease, (int(lease_seconds * 1_000_000), *[row.sequence for row in rows])
                    )
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        return rows

    def exclusive(self) -> bool:
        """Where the server has no SKIP LOCKED: take the relays' named lock (True), or
        learn that another relay holds it (False). Always True otherwise."""
        if self.skip_locked:
            return True
        (statement,) = sql.render("outbox/relay_lock.sql")
        with self.connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchone()[0] == 1

    def release(self) -> None:
        if not self.skip_locked:
            (statement,) = sql.render("outbox/relay_unlock.sql")
            with self.connection.cursor() as cursor:
                cursor.execute(statement)

    def mark_delivered(self, sequences: Iterable[int]) -> None:
        sequences = list(sequences)
        if sequences:
            (statement,) = sql.render(
                "outbox/mark_delivered.sql", sequences=placeholders(len(sequences))
            )
            self._write(statement, sequences)

    def release_unsent(self, sequences: Iterable[int]) -> None:
        """Claimed rows that were not sent: due again at once, no attempt counted."""
        sequences = list(sequences)
        if sequences:
            (statement,) = sql.render(
                "outbox/release_unsent.sql", sequences=placeholders(len(sequences))
            )
            self._write(statement, sequences)

    def retry_later(self, sequence: int, delay_seconds: float, error: str) -> None:
        (statement,) = sql.render("outbox/retry_later.sql")
        self._write(statement, (int(delay_seconds * 1_000_000), error[:2000], sequence))

    def park(self, sequence: int, reason: str) -> None:
        (statement,) = sql.render("outbox/park.sql")
        self._write(statement, (reason[:2000], sequence))

    def purge_delivered(self, retention_seconds: float, batch: int) -> int:
        """Delete up to ``batch`` delivered rows older than the retention; how many."""
        (statement,) = sql.render("outbox/purge_delivered.sql")
        with self.connection.cursor() as cursor:
            deleted = cursor.execute(statement, (int(retention_seconds), batch))
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

    def _write(self, statement: str, parameters) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(statement, parameters)
        self.connection.commit()


@dataclass(frozen=True)
class PendingStatus:
    """What the relay reports each run: events waiting (due, leased or backing off),
    events parked, and the age of the oldest waiting one (None when none waits)."""

    pending: int
    parked: int
    oldest_pending_seconds: float | None


# -- what an operator asks (aurora-events outbox) ----------------------------------------


@dataclass(frozen=True)
class OutboxStatus:
    due: int
    in_flight_or_backing_off: int
    parked: int
    delivered: int
    oldest_waiting_seconds: float | None


def outbox_status(connection: pymysql.connections.Connection) -> OutboxStatus:
    """How many events wait, are parked or delivered; the age of the oldest waiting one."""
    (statement,) = sql.render("outbox/status.sql")
    with connection.cursor() as cursor:
        cursor.execute(statement)
        due, flying, parked, delivered, oldest = cursor.fetchone()
    return OutboxStatus(
        int(due),
        int(flying),
        int(parked),
        int(delivered),
        None if oldest is None else float(oldest),
    )


def replay_events(
    connection: pymysql.connections.Connection,
    *,
    event_ids: list[str] | None = None,
    since: str | None = None,
    parked_only: bool = False,
) -> int:
    """Make events due again (by id, or written since ``since``, optionally only the
    parked ones); how many. Receivers deduplicate on ``event_id``."""
    if bool(event_ids) == bool(since):
        raise ValueError("replay takes event ids or a time to replay since, not both")
    with connection.cursor() as cursor:
        if event_ids:
            (statement,) = sql.render(
                "outbox/replay_ids.sql", event_ids=placeholders(len(event_ids))
            )
            changed = cursor.execute(statement, event_ids)
        else:
            (statement,) = sql.render("outbox/replay_since.sql")
            changed = cursor.execute(statement, (since, 1 if parked_only else 0))
    connection.commit()
    return changed
