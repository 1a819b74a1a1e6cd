"""The outbox table's contract, shared by everything that touches it: the migrations that
create it (``migrations/event_outbox.py``), the grants that open it to the relay
(``infra/database/grants.py``), the relay that delivers its rows (``functions/relay/``)
and the operator's commands (``infra/database/outbox_admin.py``, ``aurora-events
outbox``). Its name, what state a row is in, and the helpers every user's statements
need. Small and pure (one helper asks the server one question): it ships in the relay's
zip, beside the relay's own code and nothing of the operator's.

**A row's state** (one event for one target) follows from three of its columns:

- ``due``: neither delivered nor parked, ``next_attempt_at`` reached: the next claim
  takes it;
- ``leased or backing off``: neither delivered nor parked, ``next_attempt_at`` ahead:
  a relay holds it (``next_attempt_at`` is its lease's end) or it waits out the backoff
  after a failed send;
- ``delivered``: ``delivered_at`` set: its target took it; kept for the retention, then
  purged;
- ``parked``: ``parked_at`` set and not delivered: the relay stopped trying (refused by
  the target, too many failed sends, too large, not decodable); ``last_error`` says why,
  and it waits for a person to replay it.

*Waiting* is neither delivered nor parked (due, or leased or backing off). The SQL files
under ``sql/outbox/`` spell these predicates (SQL text cannot import): ``status.sql``
counts all four, ``pending_status.sql`` the waiting and the parked,
``parked_errors.sql`` reads the parked.
"""

from __future__ import annotations

import functools

import sql

# The one table of the outbox: created by migrations/event_outbox.py, written by outbox
# triggers, granted to the relay. Python names it from here; the SQL files under sql/
# spell it out.
OUTBOX_TABLE = "aurora_events_outbox"
# Revision 0010's one-row table: how many claims held events (functions/relay/outbox.py).
HOLD_COUNTER_TABLE = "aurora_events_outbox_holds"


def placeholders(count: int) -> str:
    """``%s, %s, ...``: ``count`` parameters, for a statement's ``IN (...)`` list."""
    return ", ".join(["%s"] * count)


@functools.lru_cache(maxsize=256)
def for_sequences(name: str, count: int) -> str:
    """The statement ``sql/<name>`` for ``count`` sequences, rendered once per count
    (rendering checks every placeholder it fills in: ~3 ms for a 2,000-row claim's list)."""
    (statement,) = sql.render(name, sequences=placeholders(count))
    return statement


@functools.lru_cache(maxsize=256)
def for_lists(name: str, **counts: int) -> str:
    """The statement ``sql/<name>`` with each named list of ``count`` placeholders
    (:func:`for_sequences` for a statement of more than one list)."""
    lists = {list_name: placeholders(count) for list_name, count in counts.items()}
    (statement,) = sql.render(name, **lists)
    return statement


def has_ordering_key(cursor) -> bool:
    """Whether the outbox has revision 0008's ``ordering_key`` column."""
    (statement,) = sql.render("outbox/has_ordering_key.sql")
    cursor.execute(statement)
    return cursor.fetchone()[0] > 0
