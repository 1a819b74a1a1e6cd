"""Handlers that the runtime tests deploy on a local runtime of their own (imported by its
worker processes, like tests/lambda_handlers.py)."""

from __future__ import annotations

import os

import pymysql


def locks_the_runtime_out(event, context):
    """Count this call in ``<database>.calls``; on the first call, lock the runtime's
    database account and drop its connections, so that the runtime cannot record this
    success until the test unlocks the account."""
    root = pymysql.connect(
        unix_socket=os.environ["ROOT_SOCKET"],
        user="root",
        password=os.environ["ROOT_PASSWORD"],
        database=event["database"],
        autocommit=True,
    )
    try:
        with root.cursor() as cursor:
            cursor.execute("INSERT INTO calls () VALUES ()")
            cursor.execute("SELECT COUNT(*) FROM calls")
            (calls,) = cursor.fetchone()
            if calls == 1:
                cursor.execute("ALTER USER %s@'%%' ACCOUNT LOCK", (event["user"],))
                cursor.execute(
                    "SELECT id FROM information_schema.PROCESSLIST WHERE USER = %s",
                    (event["user"],),
                )
                for (connection_id,) in cursor.fetchall():
                    cursor.execute("KILL CONNECTION %s", (connection_id,))
    finally:
        root.close()
    return {"calls": calls}
