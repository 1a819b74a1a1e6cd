"""What an operator asks of the outbox (``aurora-events outbox`` and ``outbox replay``):
how many events are in each state, why the parked ones were parked, and making events due
again. Operator code: it runs on the operator's machine, never in the relay (whose zip
holds ``functions/relay/`` and the table's contract, ``functions/common/outbox_table.py``,
which this module shares)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pymysql

import sql
from functions.common.outbox_table import has_ordering_key, placeholders

# How many (target, error) groups of parked events the status shows.
PARKED_ERROR_GROUPS = 5


@dataclass(frozen=True)
class ParkedErrors:
    """Parked events of one target that share one last error."""

    target_function: str
    error: str | None
    events: int
    newest_parked_at: datetime


@dataclass(frozen=True)
class OutboxStatus:
    """The outbox's rows by state (``functions/common/outbox_table.py`` defines them)."""

    due: int
    in_flight_or_backing_off: int
    parked: int
    delivered: int
    oldest_waiting_seconds: float | None
    # An ordered outbox (revision 0008): waiting events held back behind an earlier
    # waiting event of their row, and how many rows (key and target) are held. None: the
    # outbox has no ordering key.
    held_back: int | None = None
    held_rows: int | None = None
    # The parked events' most common errors (sql/outbox/parked_errors.sql), most first.
    parked_errors: tuple[ParkedErrors, ...] = ()

    @property
    def waiting(self) -> int:
        """Events neither delivered nor parked."""
        return self.due + self.in_flight_or_backing_off


def outbox_status(
    connection: pymysql.connections.Connection, error_groups: int = PARKED_ERROR_GROUPS
) -> OutboxStatus:
    """How many events wait, are parked or delivered; the age of the oldest waiting one;
    on an ordered outbox, how many wait behind an earlier event of their row; and, when
    events are parked, their ``error_groups`` most common errors."""
    (statement,) = sql.render("outbox/status.sql")
    with connection.cursor() as cursor:
        cursor.execute(statement)
        due, flying, parked, delivered, oldest = cursor.fetchone()
        held = held_rows = None
        if has_ordering_key(cursor):
            (held_statement,) = sql.render("outbox/held_keys.sql")
            cursor.execute(held_statement)
            held, held_rows = map(int, cursor.fetchone())
    return OutboxStatus(
        int(due),
        int(flying),
        int(parked),
        int(delivered),
        None if oldest is None else float(oldest),
        held,
        held_rows,
        tuple(parked_errors(connection, error_groups)) if int(parked) else (),
    )


def parked_errors(connection: pymysql.connections.Connection, limit: int) -> list[ParkedErrors]:
    """The ``limit`` most common (target, last error) of the parked events, most first."""
    (statement,) = sql.render("outbox/parked_errors.sql")
    with connection.cursor() as cursor:
        cursor.execute(statement, (limit,))
        return [
            ParkedErrors(target, error, int(events), newest)
            for target, error, events, newest in cursor.fetchall()
        ]


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
