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

The batch logic is :class:`~functions.drain.processor.DrainProcessor`; this module holds
the connection and the transaction.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.common.database import ReusableConnection, is_retryable_later
from functions.common.queue_messages import QueuedRow, parse_message
from functions.drain.processor import DatabaseUnavailable, DrainProcessor
from functions.drain.rows import rows_by_table, write_groups

logger = Logger(service="drain")
CONNECT_TIMEOUT_SECONDS = 2
database = ReusableConnection(
    autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=20, write_timeout=20
)


def write_messages(bodies: list[str]) -> None:
    """Write the messages' rows all or none (parse errors and data errors raise; a database
    that cannot take the write raises :class:`DatabaseUnavailable`)."""
    rows = [parse_message(body) for body in bodies]
    try:
        database.run(lambda connection: write_atomically(connection, rows))
    except Exception as error:
        if is_retryable_later(error):
            database.discard()
            raise DatabaseUnavailable(str(error)) from error
        try:
            database.get().rollback()
        except Exception:
            database.discard()
        raise


def write_atomically(connection, rows: list[QueuedRow]) -> int:
    """Write ``rows`` all or none on the autocommit ``connection``; how many were new.

    Rows of one table (the usual batch) need no transaction: their one INSERT is atomic,
    and the stored-keys SELECT before it is only a shortcut (the UNIQUE key is what keeps a
    key to one row). That saves the BEGIN and COMMIT round trips, two of four per batch
    (``make bench``'s drain throughput). Rows of several tables get one transaction.
    Safe to run twice (:meth:`ReusableConnection.run`): the second run skips stored keys.
    """
    groups = rows_by_table(rows)
    if len(groups) > 1:
        connection.begin()
    with connection.cursor() as cursor:
        inserted = write_groups(cursor, groups)
    if len(groups) > 1:
        connection.commit()
    return inserted


def write_message(record: SQSRecord) -> None:
    """The fallback's record handler: one message in its own transaction."""
    write_messages([record.body])


processor = DrainProcessor(write_batch=write_messages, log=logger)


@logger.inject_lambda_context
def handler(event, context):
    """The Lambda entry point: the partial batch response, or :class:`DatabaseUnavailable`."""
    # Powertools' context-manager form: an empty batch is an empty answer, not an error.
    with processor(event.get("Records", []), write_message, context):
        processor.process()
    return processor.response()
