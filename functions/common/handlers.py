"""The shape every row-event handler shares: parse, deliver, or report a malformed event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.common.event_batches import BatchAnswer, is_batch_request
from functions.common.events import MalformedEvent, RowEvent, parse_row_event
from functions.common.ping import is_ping, pong
from functions.common.reporting import reject_malformed_event


def row_event_handler(
    logger,
    deliver: Callable[[RowEvent], dict[str, Any]],
    deliver_events: Callable[[list], BatchAnswer] | None = None,
):
    """A Lambda handler that parses the event and passes it to ``deliver``.

    A malformed event is logged and answered ``rejected`` (see
    :mod:`functions.common.reporting`); ``deliver``'s errors propagate, so Lambda retries.
    The outbox relay's ``{"events": [...]}`` goes to ``deliver_events`` when the function
    has one (notify: SNS PublishBatch), else event by event (:func:`deliver_batch`). The
    doctor's probe, ``{"ping": 1}``, is answered ``pong`` and delivers nothing.
    """

    @logger.inject_lambda_context
    def handler(event, context):
        if is_ping(event):
            logger.info("ping answered")
            return pong(context)
        if is_batch_request(event):
            if deliver_events is not None:
                return deliver_events(event["events"]).as_dict()
            return deliver_batch(logger, deliver, event["events"]).as_dict()
        try:
            row_event = parse_row_event(event)
        except MalformedEvent as error:
            return reject_malformed_event(logger, error, event)
        return deliver(row_event)

    return handler


def deliver_batch(
    logger, deliver: Callable[[RowEvent], dict[str, Any]], events: list
) -> BatchAnswer:
    """The outbox relay's batch (:mod:`functions.common.event_batches`): each event
    delivered on its own; a malformed one is rejected (never retried), one whose delivery
    raised is reported failed (the relay retries it), and the others go on."""
    answer = BatchAnswer()
    for event in events:
        event_id = event.get("event_id") if isinstance(event, dict) else None
        try:
            row_event = parse_row_event(event)
        except MalformedEvent as error:
            reject_malformed_event(logger, error, event)
            if isinstance(event_id, str):  # without an id the relay could not name it anyway
                answer.rejected[event_id] = str(error)
            continue
        try:
            deliver(row_event)
        except Exception as error:  # noqa: BLE001 - reported to the relay, which retries
            logger.warning(
                "delivery failed", extra={"event_id": row_event.event_id, "error": str(error)}
            )
            answer.failed[row_event.event_id] = str(error)
    return answer
