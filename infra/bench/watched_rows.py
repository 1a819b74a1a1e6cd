"""Rows inserted into the example schema's watched tables for ``make bench``: ``orders``
(outbox triggers after revision 0004) and ``customer_feedback`` (direct triggers: notify
and email), by delivery mode."""

from __future__ import annotations

import pymysql

from infra.database.statements import statement

DEADLOCK = 1213  # ER_LOCK_DEADLOCK: the transaction was rolled back; try it again
DEADLOCK_RETRIES = 10

# mode -> (the INSERT's file, one row's values)
INSERTS = {
    "outbox": ("bench/insert_orders.sql", (1, "1.00", "EUR")),
    "direct": ("bench/insert_feedback.sql", ("bench", "bench")),
}


def insert_rows(cursor, mode: str, count: int) -> int:
    """One multi-row INSERT of ``count`` rows into ``mode``'s table, autocommitted, tried
    again if the server picks it as a deadlock's victim, as an application would; how
    many times that happened. (The relay's lease UPDATE of claimed outbox rows can lock
    the next outbox row, one the trigger of a concurrent INSERT has just written.)"""
    name, values = INSERTS[mode]
    row = "(" + ", ".join(["%s"] * len(values)) + ")"
    text = statement(name, rows=", ".join([row] * count))
    deadlocks = 0
    while True:
        try:
            cursor.execute(text, values * count)
            return deadlocks
        except pymysql.err.OperationalError as error:
            if error.args[0] != DEADLOCK or deadlocks == DEADLOCK_RETRIES:
                raise
            deadlocks += 1
