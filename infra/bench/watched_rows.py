"""Rows inserted into the example schema's watched tables for ``make bench``: ``orders``
(outbox triggers after revision 0004) and ``customer_feedback`` (direct triggers: notify
and email), by delivery mode."""

from __future__ import annotations

import pymysql

from infra.database.statements import statement

# The server rolled the INSERT back for a lock conflict: ER_LOCK_DEADLOCK (chosen as a
# deadlock's victim) or ER_LOCK_WAIT_TIMEOUT. The outbox exists so that delivery never
# fails a user's write: every section that writes while the relay runs counts these and
# prints the count (target: 0), and the bench's tests assert 0.
LOCK_CONFLICTS = (1213, 1205)
CONFLICT_RETRIES = 10

# mode -> (the INSERT's file, one row's values)
INSERTS = {
    "outbox": ("bench/insert_orders.sql", (1, "1.00", "EUR")),
    "direct": ("bench/insert_feedback.sql", ("bench", "bench")),
}


def insert_rows(cursor, mode: str, count: int) -> int:
    """One multi-row INSERT of ``count`` rows into ``mode``'s table, autocommitted, tried
    again after a lock conflict (:data:`LOCK_CONFLICTS`), as an application would; how
    many conflicts there were, for the caller to report (a defect when not 0)."""
    name, values = INSERTS[mode]
    row = "(" + ", ".join(["%s"] * len(values)) + ")"
    text = statement(name, rows=", ".join([row] * count))
    conflicts = 0
    while True:
        try:
            cursor.execute(text, values * count)
            return conflicts
        except pymysql.err.OperationalError as error:
            if error.args[0] not in LOCK_CONFLICTS or conflicts == CONFLICT_RETRIES:
                raise
            conflicts += 1
