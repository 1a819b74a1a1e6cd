"""Lambda handler: SQS FIFO batch -> Aurora, reporting partial batch failures.

* Fast path: the whole batch (up to 10 messages) all or none, one multi-row INSERT per
  table (:func:`write_atomically`).
* If the database cannot take the write now, fail fast: the invocation raises
  :class:`~functions.drain.processor.DatabaseUnavailable` and every message returns to the
  queue (short connect timeout, so the function does not burn its own timeout waiting).
  That covers an outage, a trigger's failed Lambda call (Aurora's 1873 / 1227), a
  privilege error and a lock conflict (1205 lock wait timeout, 1213 deadlock): none is
  the data's fault (``is_retryable_later`` lists the classes).
* If the batch holds a message that cannot be written, write record by record with
  Powertools' FIFO processor: it stops a message group at its first failure and lets the
  other groups (customers) through; the bad message ends in the DLQ after maxReceiveCount.

* A message whose stored key holds a row made from another body (an idempotency
  conflict, :mod:`functions.drain.rows`) writes no row: it is recorded in
  ``ingest_conflicts`` with the batch's rows, logged, and counted in the
  ``IdempotencyConflicts`` metric; the message itself succeeds (retrying cannot help).

The batch logic is :class:`~functions.drain.processor.DrainProcessor`; this module holds
the connection and the transaction.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.common.database import ReusableConnection, is_retryable_later
from functions.common.queue_messages import QueuedRow, parse_message
from functions.drain.metrics import (
    IDEMPOTENCY_CONFLICTS,
    NAMESPACE,
    SERVICE_DIMENSION,
    service_name,
)
from functions.drain.processor import DatabaseUnavailable, DrainProcessor
from functions.drain.rows import Plan, execute, plan_groups, rows_by_table

logger = Logger(service="drain")
CONNECT_TIMEOUT_SECONDS = 2
database = ReusableConnection(
    autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=20, write_timeout=20
)


def write_messages(messages: list[tuple[str, str]]) -> None:
    """Write the rows of ``messages`` (SQS message id, body) all or none, and record their
    conflicts (parse errors and data errors raise; a database that cannot take the write
    raises :class:`DatabaseUnavailable`)."""
    rows = [parse_message(body, message_id) for message_id, body in messages]
    recorded: list[Plan] = []  # plans whose conflicts were committed
    try:
        database.run(lambda connection: write_atomically(connection, rows, recorded.append))
    except Exception as error:
        if is_retryable_later(error):
            database.discard()
            raise DatabaseUnavailable(str(error)) from error
        try:
            database.get().rollback()
        except Exception:
            database.discard()
        raise
    # Logged and counted once the write is done: a failure here must not turn a written
    # batch into a failed one (whose retry would find the conflicts recorded already).
    for plan in recorded:
        report_conflicts(plan)


def write_atomically(connection, rows: list[QueuedRow], report=None) -> int:
    """Write ``rows`` all or none on the autocommit ``connection``, conflicts recorded with
    them; how many rows were new. ``report`` is given the plan once it recorded conflicts.

    One INSERT (the usual batch: one table, no conflict) needs no transaction: it is
    atomic, and the stored-keys SELECT before it is only a shortcut (the UNIQUE key is what
    keeps a key to one row). That saves the BEGIN and COMMIT round trips, two of four per
    batch (``make bench``'s drain throughput). Several INSERTs get one transaction.
    Safe to run twice (:meth:`ReusableConnection.run`): the second run skips stored keys
    and conflicts recorded by message id.
    """
    with connection.cursor() as cursor:
        plan = plan_groups(cursor, rows_by_table(rows))
        if len(plan.inserts) > 1:
            connection.begin()
        inserted = execute(cursor, plan)
        if len(plan.inserts) > 1:
            connection.commit()
    if report is not None and plan.new_conflicts:
        report(plan)
    return inserted


def report_conflicts(plan: Plan) -> None:
    """Log each newly recorded conflict (an operator's search: ``idempotency conflict``) and
    count them: the metric adds up to the rows of ``ingest_conflicts``."""
    for conflict in plan.new_conflicts:
        row = conflict.row
        logger.warning(
            "idempotency conflict",
            extra={
                "resource": row.resource.name,
                "stored_key": row.idempotency_key,
                "stored_body_hash": conflict.stored_hash,
                "body_hash": row.body_hash,
                "message_id": row.message_id,
            },
        )
    count_conflicts(len(plan.new_conflicts))


def write_message(record: SQSRecord) -> None:
    """The fallback's record handler: one message in its own transaction."""
    write_messages([(record.message_id, record.body)])


def count_conflicts(count: int) -> None:
    """Print ``count`` as the ``IdempotencyConflicts`` metric (EMF), at once.

    Only when there are conflicts: a batch without one publishes nothing, which the alarm
    reads as no conflict (missing data is not breaching)."""
    with single_metric(
        name=IDEMPOTENCY_CONFLICTS, unit=MetricUnit.Count, value=count, namespace=NAMESPACE
    ) as metric:
        metric.add_dimension(name=SERVICE_DIMENSION, value=service_name(os.environ))


processor = DrainProcessor(write_batch=write_messages, log=logger)


@logger.inject_lambda_context
def handler(event, context):
    """The Lambda entry point: the partial batch response, or :class:`DatabaseUnavailable`."""
    # Powertools' context-manager form: an empty batch is an empty answer, not an error.
    with processor(event.get("Records", []), write_message, context):
        processor.process()
    return processor.response()
