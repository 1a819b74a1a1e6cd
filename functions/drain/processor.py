"""The drain's batch processor: Powertools' FIFO processor with a one-transaction fast path.

:meth:`DrainProcessor.process` writes the whole batch in one transaction; if a message
cannot be written (bad data), it falls back to Powertools' record-by-record loop, which
stops a message group at its first failure and lets the other groups (customers) through.
Every outcome goes through the success/failure handlers, and Powertools' ``response()``
is the one answer.

When the database cannot take the write (:func:`~functions.common.database.is_retryable_later`:
down, a trigger's Lambda call failed, a grant missing, a lock conflict) and nothing of the batch was
written, :class:`DatabaseUnavailable` is raised rather than every message reported as
failed. Both return the whole batch to the queue after the visibility timeout; only the
raise counts as a function error, so Lambda's ``Errors`` metric and alarms see the outage,
and it is what the event source mapping answers by backing off its concurrency (reported
item failures are not). Bad data, even in every message, is reported, never raised.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.batch.base import FailureResponse
from aws_lambda_powertools.utilities.batch.exceptions import ExceptionInfo

RETURNED_TO_THE_QUEUE = "database unavailable; batch returns to the queue"
WRITING_ONE_BY_ONE = "batch holds bad data; writing message by message"


class DatabaseUnavailable(RuntimeError):
    """The database cannot take writes now (down, a trigger's Lambda call failed, a grant is
    missing, another transaction's lock was in the way); the messages must wait in the
    queue, not head for the DLQ."""


class DrainProcessor(SqsFifoPartialProcessor):
    """``write_batch`` writes messages (SQS message id, body) in one transaction, raising
    :class:`DatabaseUnavailable` when the database is the cause; the record handler given to
    Powertools writes one message (the fallback)."""

    def __init__(self, write_batch: Callable[[list[tuple[str, str]]], object], log) -> None:
        super().__init__(skip_group_on_error=True)
        # Bad data in every message is reported message by message (each reaches the DLQ on
        # its own); only an outage raises (see the module's docstring).
        self.raise_on_entire_batch_failure = False
        self._write_batch = write_batch
        self._log = log
        self._unavailable: DatabaseUnavailable | None = None

    def _prepare(self) -> None:
        super()._prepare()
        self._unavailable = None

    def process(self) -> list[tuple]:
        """The fast path for the whole batch; record by record if a message is refused."""
        try:
            self._write_batch([(record["messageId"], record["body"]) for record in self.records])
        except DatabaseUnavailable as error:
            self._log_returned(error)
            raise
        except Exception as error:
            self._log.warning(WRITING_ONE_BY_ONE, extra={"error": str(error)})
        else:
            # Debug, not info: a Powertools log line is 17% of a batch's time (make bench),
            # and Lambda's own REPORT line already marks every invocation.
            self._log.debug("batch written", extra={"messages": len(self.records)})
            return [self.success_handler(self._as_record(record), None) for record in self.records]
        outcomes = super().process()
        if self._unavailable is not None and not self.success_messages:
            self._log_returned(self._unavailable)
            raise self._unavailable
        return outcomes

    def failure_handler(self, record, exception: ExceptionInfo) -> FailureResponse:
        if isinstance(exception[1], DatabaseUnavailable):
            self._unavailable = exception[1]
        return super().failure_handler(record, exception)

    def _log_returned(self, error: DatabaseUnavailable) -> None:
        self._log.warning(RETURNED_TO_THE_QUEUE, extra={"error": str(error)})

    def _as_record(self, record: dict):
        return self._to_batch_type(record, event_type=self.event_type)
