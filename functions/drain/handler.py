"""Lambda handler: SQS FIFO batch -> Aurora, reporting partial batch failures.

* Fast path: the whole batch (up to 10 messages) in one transaction, one multi-row
  INSERT per table.
* If the database cannot take the write now, fail fast: every message returns to the
  queue (short connect timeout, so the function does not burn its own timeout waiting).
  That covers an outage, a trigger's failed Lambda call (Aurora's 1873 / 1227) and a
  privilege error: none is the data's fault (``is_retryable_later`` lists the classes).
* If the batch holds a message that cannot be written, write record by record with
  Powertools' FIFO processor: it stops a message group at its first failure and lets the
  other groups (customers) through; the bad message ends in the DLQ after maxReceiveCount.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from functions.common.database import ReusableConnection, is_retryable_later
from functions.drain.rows import parse_message, write_rows

logger = Logger(service="drain")
CONNECT_TIMEOUT_SECONDS = 2
database = ReusableConnection(
    connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=20, write_timeout=20
)
processor = SqsFifoPartialProcessor(skip_group_on_error=True)


class DatabaseUnavailable(RuntimeError):
    """The database cannot take writes now (down, a trigger's Lambda call failed, a grant is
    missing); the messages must wait in the queue, not head for the DLQ."""


def write_messages(bodies: list[str]) -> None:
    """Write the messages' rows in one transaction (parse errors and data errors raise)."""
    rows = [parse_message(body) for body in bodies]
    try:
        connection = database.get()
        connection.begin()
        with connection.cursor() as cursor:
            write_rows(cursor, rows)
        connection.commit()
    except Exception as error:
        if is_retryable_later(error):
            database.discard()
            raise DatabaseUnavailable(str(error)) from error
        try:
            database.get().rollback()
        except Exception:
            database.discard()
        raise


def write_record(record) -> None:
    write_messages([record.body])


@logger.inject_lambda_context
def handler(event, context):
    records = event.get("Records", [])
    try:
        write_messages([record["body"] for record in records])
        logger.info("batch written", extra={"messages": len(records)})
        return {"batchItemFailures": []}
    except DatabaseUnavailable as error:
        logger.warning(
            "database unavailable; batch returns to the queue", extra={"error": str(error)}
        )
        return all_failed(records)
    except Exception as error:
        logger.warning("batch rejected; writing message by message", extra={"error": str(error)})
    try:
        return process_partial_response(
            event=event, record_handler=write_record, processor=processor, context=context
        )
    except BatchProcessingError:  # Powertools raises when every message failed
        return all_failed(records)


def all_failed(records: list[dict]) -> dict:
    """The partial-batch response that returns every message to the queue."""
    return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in records]}
