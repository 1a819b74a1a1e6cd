"""The relay's metrics against the real server: the handler, run in-process, prints one EMF
document a run with the outbox's waiting and parked events; the statement behind it reads
only undelivered rows (through the index) and agrees with ``aurora-events outbox``."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pymysql
import pytest

import sql
from functions.common.database import ReusableConnection, parse_database_url
from functions.relay.metrics import (
    NAMESPACE,
    OLDEST_PENDING_AGE,
    PARKED_EVENTS,
    PENDING_EVENTS,
    PREFIX_VARIABLE,
    SERVICE_DIMENSION,
)
from functions.relay.outbox import OutboxStore
from functions.relay.runs import run_relay
from infra.database.outbox_admin import outbox_status
from infra.local.db_server import free_port
from tests.functions.test_relay import FAST, Targets, add_events, store

OLD = "2026-01-01 00:00:00"  # the created_at of the oldest waiting event


@dataclass
class LambdaContext:
    """What Powertools' Logger reads from Lambda's context object."""

    function_name: str = "t-relay"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:t-relay"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def fill(database) -> None:
    """2 parked, 3 waiting (backing off: the relay claims none of them, so it invokes
    nothing), 4 delivered; the oldest waiting event was written at ``OLD``."""
    add_events(database, 9)
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT sequence FROM aurora_events_outbox ORDER BY sequence")
        sequences = [row[0] for row in cursor.fetchall()]
        parked, waiting, delivered = sequences[:2], sequences[2:5], sequences[5:]
        cursor.execute(
            "UPDATE aurora_events_outbox SET parked_at = UTC_TIMESTAMP(6), attempts = 8, "
            "last_error = 'boom' WHERE sequence IN (%s, %s)",
            parked,
        )
        cursor.execute(
            "UPDATE aurora_events_outbox SET next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 1 "
            "HOUR, attempts = 1 WHERE sequence IN (%s, %s, %s)",
            waiting,
        )
        cursor.execute(
            "UPDATE aurora_events_outbox SET created_at = %s WHERE sequence = %s",
            (OLD, waiting[0]),
        )
        cursor.execute(
            "UPDATE aurora_events_outbox SET delivered_at = UTC_TIMESTAMP(6), attempts = 1 "
            f"WHERE sequence IN ({', '.join(['%s'] * len(delivered))})",
            delivered,
        )


def seconds_since_old(database) -> float:
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT TIMESTAMPDIFF(MICROSECOND, %s, UTC_TIMESTAMP(6)) / 1000000", (OLD,))
        return float(cursor.fetchone()[0])


def emf_documents(stdout: str) -> list[dict]:
    """The EMF documents among the lines the handler printed (Powertools' logs are there
    too)."""
    documents = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            document = json.loads(line)
            if "_aws" in document:
                documents.append(document)
    return documents


def run_handler(database, monkeypatch, capsys, prefix: str) -> dict:
    """One relay run, in-process, on ``database``'s outbox, as the deployment ``prefix``;
    the one EMF document it printed."""
    # Imported here: the module makes its Lambda client at import, which needs the
    # stack's region and endpoint.
    from functions.relay import handler as relay_handler

    settings = parse_database_url(database.url)
    monkeypatch.setattr(relay_handler, "database", ReusableConnection(lambda: settings))
    monkeypatch.setenv(PREFIX_VARIABLE, prefix)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "something-else")  # must not win
    capsys.readouterr()
    relay_handler.handler({"source": "aws.events"}, LambdaContext())
    (document,) = emf_documents(capsys.readouterr().out)
    return document


def test_the_relay_prints_its_outbox_metrics_as_one_emf_document_a_run(outbox, monkeypatch, capsys):
    fill(outbox)
    before = seconds_since_old(outbox)
    document = run_handler(outbox, monkeypatch, capsys, prefix="t-metrics")
    after = seconds_since_old(outbox)

    assert document["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": NAMESPACE,
            "Dimensions": [[SERVICE_DIMENSION]],
            "Metrics": [
                {"Name": PENDING_EVENTS, "Unit": "Count"},
                {"Name": PARKED_EVENTS, "Unit": "Count"},
                {"Name": OLDEST_PENDING_AGE, "Unit": "Seconds"},
            ],
        }
    ]
    assert document[SERVICE_DIMENSION] == "t-metrics"
    assert (document[PENDING_EVENTS], document[PARKED_EVENTS]) == ([3.0], [2.0])
    assert before <= document[OLDEST_PENDING_AGE][0] <= after
    # The next run prints its own document, not this one's values again.
    with outbox.connect().cursor() as cursor:
        cursor.execute("UPDATE aurora_events_outbox SET parked_at = NULL, delivered_at = NOW()")
    document = run_handler(outbox, monkeypatch, capsys, prefix="t-metrics")
    assert (document[PENDING_EVENTS], document[PARKED_EVENTS]) == ([0.0], [0.0])
    assert document[OLDEST_PENDING_AGE] == [0.0]


def test_the_metrics_statement_agrees_with_the_operators_status(outbox):
    add_events(outbox, 6, targets=("arn:target-a", "arn:target-b"))
    # target-a refuses its events (parked), target-b fails once (backing off).
    run_relay(
        store(outbox),
        Targets(lambda target, event: "reject" if target == "arn:target-a" else "fail"),
        FAST,
    )
    add_events(outbox, 2)  # due now
    with outbox.connect().cursor() as cursor:
        cursor.execute("UPDATE aurora_events_outbox SET created_at = %s WHERE sequence = 2", (OLD,))
    connection = outbox.connect()
    pending = OutboxStore(connection).pending_status()
    status = outbox_status(connection)
    assert (pending.pending, pending.parked) == (5, 3)
    assert pending.pending == status.due + status.in_flight_or_backing_off
    assert pending.parked == status.parked
    assert pending.oldest_pending_seconds == pytest.approx(status.oldest_waiting_seconds, abs=1)
    assert pending.oldest_pending_seconds >= seconds_since_old(outbox) - 1

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM aurora_events_outbox")
    empty = OutboxStore(connection).pending_status()
    assert (empty.pending, empty.parked, empty.oldest_pending_seconds) == (0, 0, None)


def test_the_oldest_pending_age_is_the_oldest_waiting_events_by_the_servers_clock(outbox):
    """Older delivered and parked events do not count; a waiting one counts whether it is
    due, leased or backing off; the age is the server's UTC_TIMESTAMP less its created_at."""
    add_events(outbox, 5)
    written = {
        1: ("2020-01-01 00:00:00", "delivered_at = UTC_TIMESTAMP(6)"),
        2: ("2021-01-01 00:00:00", "parked_at = UTC_TIMESTAMP(6)"),
        3: ("2025-06-01 12:00:00", "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR"),
        4: ("2025-07-01 00:00:00", "next_attempt_at = UTC_TIMESTAMP(6)"),  # due
    }
    with outbox.connect().cursor() as cursor:
        for sequence, (created, state) in written.items():
            cursor.execute(
                f"UPDATE aurora_events_outbox SET created_at = %s, {state} WHERE sequence = %s",
                (created, sequence),
            )
    connection = outbox.connect()

    def age_of(created: str) -> float:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT TIMESTAMPDIFF(MICROSECOND, %s, UTC_TIMESTAMP(6)) / 1000000", (created,)
            )
            return float(cursor.fetchone()[0])

    before = age_of("2025-06-01 12:00:00")
    oldest = OutboxStore(connection).pending_status().oldest_pending_seconds
    assert before <= oldest <= age_of("2025-06-01 12:00:00")
    # The backing-off event delivered: the due one is the oldest now.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE aurora_events_outbox SET delivered_at = UTC_TIMESTAMP(6) WHERE sequence = 3"
        )
    connection.commit()
    before = age_of("2025-07-01 00:00:00")
    oldest = OutboxStore(connection).pending_status().oldest_pending_seconds
    assert before <= oldest <= age_of("2025-07-01 00:00:00")


def test_the_metrics_statement_reads_the_pending_index_not_the_delivered_rows(outbox):
    """The relay runs it every minute; delivered rows (a week of events) must not be read."""
    (statement,) = sql.render("outbox/pending_status.sql")
    with outbox.connect().cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute("EXPLAIN " + statement)
        plan = cursor.fetchall()
    outbox_reads = [row for row in plan if row["table"] in ("aurora_events_outbox", "oldest")]
    assert outbox_reads, plan
    for row in outbox_reads:
        assert row["type"] != "ALL", plan  # never a full scan
    counting = next(row for row in outbox_reads if row["table"] == "aurora_events_outbox")
    assert counting["key"] == "outbox_pending", plan
    assert "Using index" in (counting["Extra"] or ""), plan  # the index alone


def test_a_relay_that_cannot_reach_the_database_raises_and_prints_no_metrics(
    outbox, monkeypatch, capsys
):
    """What the relay-errors alarm counts (Lambda's Errors), and why the parked alarm alone
    would not see it: no EMF document."""
    from functions.relay import handler as relay_handler

    unreachable = replace(parse_database_url(outbox.url), port=free_port(), password="x")
    monkeypatch.setattr(relay_handler, "database", ReusableConnection(lambda: unreachable))
    monkeypatch.setenv(PREFIX_VARIABLE, "t-down")
    capsys.readouterr()
    with pytest.raises(pymysql.err.OperationalError) as raised:
        relay_handler.handler({"source": "aws.events"}, LambdaContext())
    assert raised.value.args[0] == 2003  # can't connect
    assert emf_documents(capsys.readouterr().out) == []
