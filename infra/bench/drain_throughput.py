"""Drain throughput: rows/s the drain's Lambda handler writes from SQS batches of 10.

The handler runs in this process, as Lambda would call it: SQS event dicts (the local
event source's own :func:`~infra.local.event_source.sqs_event`) of messages built the way
the ingest function queues them (:mod:`functions.common.queue_messages`), with the
database from the environment (``DATABASE_URL``: the drain's own account) and its log
lines written, to nowhere. Against the same rows written two other ways, on the same
table (its outbox trigger included):

* the limit: the drain's multi-row INSERT of 10 rows, one statement a transaction, and
  nothing else (no message to read, no idempotency check);
* the naive way: one row per transaction;
* and, to show what the handler's own code costs, the drain's two statements per batch
  alone (the stored-keys SELECT, then the 10-row INSERT), with nothing else: the gap
  between them and the limit is the idempotency check's round trip, which the drain
  keeps by design (the only one-statement alternative, ON DUPLICATE KEY UPDATE, needs
  UPDATE on every inserted column on MariaDB: the drain's account would then rewrite
  stored rows).
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import uuid
from dataclasses import dataclass

from functions.common.database import connect
from functions.common.queue_messages import QueuedRow, deduplication_id, message_body, queued_row
from functions.common.resources import body_hash, message_group_id, resource_named, validate_body
from functions.drain.rows import insert_statement, write_rows
from infra.bench.timing import timed
from infra.local.event_source import sqs_event
from infra.local.lambda_worker import LambdaContext

BATCH = 10  # the FIFO event source's largest batch
ORDERS = resource_named("orders")
CUSTOMERS = 50  # message groups the orders spread over


class Nowhere(io.TextIOBase):
    """A text stream that takes every line and keeps none (the handler's log)."""

    def write(self, text: str) -> int:
        return len(text)


@dataclass(frozen=True)
class DrainThroughput:
    rows: int  # rows written each way
    handler_seconds: float
    limit_seconds: float  # multi-row INSERTs of BATCH rows, one a transaction
    naive_seconds: float | None  # one row a transaction (None: not measured)
    statements_seconds: float | None = None  # the drain's SELECT + INSERT a batch, alone

    @property
    def handler_rows_per_second(self) -> float:
        return self.rows / self.handler_seconds

    @property
    def limit_rows_per_second(self) -> float:
        return self.rows / self.limit_seconds

    @property
    def naive_rows_per_second(self) -> float | None:
        return self.rows / self.naive_seconds if self.naive_seconds else None

    @property
    def statements_rows_per_second(self) -> float | None:
        return self.rows / self.statements_seconds if self.statements_seconds else None

    @property
    def of_the_limit(self) -> float:
        """The handler's rate over the limit's (target: at least 0.8)."""
        return self.limit_seconds / self.handler_seconds

    @property
    def of_its_statements(self) -> float | None:
        """The handler's rate over its own two statements' alone (1.0: the handler's code,
        the parsing and Powertools, costs nothing)."""
        return self.statements_seconds / self.handler_seconds if self.statements_seconds else None

    @property
    def over_naive(self) -> float | None:
        """The handler's rate over the naive way's (target: at least 5)."""
        return self.naive_seconds / self.handler_seconds if self.naive_seconds else None


def order_values(number: int) -> dict:
    """An order as the ingest function validated it."""
    body = {
        "customer_id": 1 + number % CUSTOMERS,
        "amount": f"{number % 1000 + 1}.{number % 100:02d}",
        "currency": "EUR",
    }
    return validate_body(ORDERS, body)


def sqs_batches(rows: int, prefix: str) -> list[dict]:
    """SQS events of up to BATCH order messages each, ``rows`` messages in all."""
    events = []
    for start in range(0, rows, BATCH):
        messages = []
        for number in range(start, min(start + BATCH, rows)):
            values = order_values(number)
            # Stored under its scoped key (functions.common.resources.stored_key).
            row = queued_row(ORDERS, values, f"{prefix}{number}", None, f"request-{number}")
            messages.append(
                {
                    "MessageId": str(uuid.uuid4()),
                    "ReceiptHandle": f"handle-{prefix}{number}",
                    "Body": message_body(row),
                    "Attributes": {
                        "MessageGroupId": message_group_id(ORDERS, values),
                        "MessageDeduplicationId": deduplication_id(row),
                    },
                }
            )
        events.append(sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:bench", "us-east-1"))
    return events


def drain_handler(database_url: str):
    """The drain's handler, its database ``database_url`` read from the environment as a
    fresh container reads it (on its first use in this process: a later call keeps the
    first database), its log lines going nowhere. The environment is left as it was."""
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = database_url
    try:
        with contextlib.redirect_stdout(Nowhere()):
            from functions.drain import handler as module  # its Logger keeps this stdout
        module.database.get()  # reads the settings now, connects, and keeps both
    finally:
        if previous is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = previous
    return module.handler


def run_handler(handler, events: list[dict]) -> tuple[float, int]:
    """Seconds ``handler`` took for the SQS ``events``, and how many messages it reported
    failed (0 expected)."""
    failures = 0
    started = time.perf_counter()
    for event in events:
        context = LambdaContext("bench-drain", "arn:aws:lambda:bench", 30, 256, "bench")
        failures += len(handler(event, context)["batchItemFailures"])
    return time.perf_counter() - started, failures


def plain_writes(rows: int, per_statement: int) -> list[tuple[str, list]]:
    """The drain's INSERT statement for ``rows`` orders, ``per_statement`` rows each, with
    their parameters."""
    prefix = f"plain-{uuid.uuid4().hex[:8]}-"
    writes = []
    for start in range(0, rows, per_statement):
        numbers = range(start, min(start + per_statement, rows))
        parameters = []
        for number in numbers:
            values = order_values(number)
            parameters += [values[field.name] for field in ORDERS.fields]
            parameters += [f"{prefix}{number}", body_hash(values)]
        writes.append((insert_statement(ORDERS, len(numbers)), parameters))
    return writes


def queued_batches(rows: int) -> list[list[QueuedRow]]:
    """``rows`` orders as the drain reads them from the queue, BATCH a batch."""
    prefix = f"statements-{uuid.uuid4().hex[:8]}-"
    return [
        [
            QueuedRow(ORDERS, f"{prefix}{number}", order_values(number))
            for number in range(start, min(start + BATCH, rows))
        ]
        for start in range(0, rows, BATCH)
    ]


def run_statements(connection, batches: list[list[QueuedRow]]) -> float:
    """Seconds to write ``batches`` with the drain's own statements and nothing else."""
    with connection.cursor() as cursor:
        return timed(lambda: [write_rows(cursor, batch) for batch in batches])


def run_plain(connection, writes: list[tuple[str, list]], explicit: bool) -> float:
    """Seconds to run ``writes`` one statement a transaction: autocommitted (the limit), or
    between BEGIN and COMMIT (the naive way, as a drain writing row by row would)."""
    with connection.cursor() as cursor:

        def write() -> None:
            for statement, parameters in writes:
                if explicit:
                    connection.begin()
                cursor.execute(statement, parameters)
                if explicit:
                    connection.commit()

        return timed(write)


def measure(
    stack, database: str, rows: int, naive: bool = True, rounds: int = 5
) -> DrainThroughput:
    """The three ways on database ``database`` of ``stack`` (migrated, the drain's account
    granted) as the drain's account, ``rows`` rows each, in ``rounds`` turns that take
    ways in turn (the machine's load drifts; each way sees the same drift)."""
    settings = stack.drain_settings(database)
    handler = drain_handler(settings.url(driver="mysql"))
    connection = connect(settings)
    seconds = {"handler": 0.0, "limit": 0.0, "naive": 0.0, "statements": 0.0}
    try:
        # Untimed, once: statements rendered, code paths and the table's pages warm.
        run_handler(handler, sqs_batches(BATCH, f"warm-{uuid.uuid4().hex[:8]}-"))
        run_plain(connection, plain_writes(BATCH, BATCH), explicit=False)
        for turn in range(rounds):
            share = rows // rounds + (1 if turn < rows % rounds else 0)
            events = sqs_batches(share, f"drain-{uuid.uuid4().hex[:8]}-")
            spent, failures = run_handler(handler, events)
            if failures:
                raise RuntimeError(f"the drain reported {failures} of {share} messages failed")
            seconds["handler"] += spent
            seconds["limit"] += run_plain(connection, plain_writes(share, BATCH), explicit=False)
            seconds["statements"] += run_statements(connection, queued_batches(share))
            if naive:
                seconds["naive"] += run_plain(connection, plain_writes(share, 1), explicit=True)
    finally:
        connection.close()
    return DrainThroughput(
        rows,
        seconds["handler"],
        seconds["limit"],
        seconds["naive"] if naive else None,
        seconds["statements"],
    )
