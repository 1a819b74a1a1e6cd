"""The shape every row-event handler shares: parse, deliver, or report a malformed event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.config import Config

from functions.common.event_batches import (
    CALL_ATTEMPTS,
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    BatchAnswer,
    Deadline,
    event_ids,
    is_batch_request,
)
from functions.common.events import MalformedEvent, RowEvent, parse_row_event
from functions.common.ping import is_ping, pong
from functions.common.reporting import reject_malformed_event


def target_client_config() -> Config:
    """The botocore config of a target's client (SES, SNS): each call ends within
    :data:`~functions.common.event_batches.CALL_SECONDS`."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": CALL_ATTEMPTS},
    )


def row_event_handler(
    logger,
    deliver: Callable[[RowEvent], dict[str, Any]],
    deliver_events: Callable[[list, Deadline], BatchAnswer] | None = None,
    reserve_seconds: float = 0.0,
):
    """A Lambda handler that parses the event and passes it to ``deliver``.

    A malformed event is logged and answered ``rejected`` (see
    :mod:`functions.common.reporting`); ``deliver``'s errors propagate, so Lambda retries.
    The outbox relay's ``{"events": [...]}`` goes to ``deliver_events`` when the function
    has one (notify: SNS PublishBatch), else event by event (:func:`deliver_batch`); both
    stop when less than ``reserve_seconds`` of the invocation are left, and name the
    events they did not attempt. The doctor's probe, ``{"ping": 1}``, is answered
    ``pong`` and delivers nothing.
    """

    @logger.inject_lambda_context
    def handler(event, context):
        if is_ping(event):
            logger.info("ping answered")
            return pong(context)
        if is_batch_request(event):
            deadline = Deadline.of(context, reserve_seconds)
            if deliver_events is not None:
                return deliver_events(event["events"], deadline).as_dict()
            return deliver_batch(logger, deliver, event["events"], deadline).as_dict()
        try:
            row_event = parse_row_event(event)
        except MalformedEvent as error:
            return reject_malformed_event(logger, error, event)
        return deliver(row_event)

    return handler


def deliver_batch(
    logger,
    deliver: Callable[[RowEvent], dict[str, Any]],
    events: list,
    deadline: Deadline | None = None,
) -> BatchAnswer:
    """The outbox relay's batch (:mod:`functions.common.event_batches`): each event
    delivered on its own; a malformed one is rejected (never retried), one whose delivery
    raised is reported failed (the relay retries it), and the others go on, until the
    ``deadline``: the events from there on are answered unattempted."""
    deadline = deadline or Deadline()
    answer = BatchAnswer()
    for position, event in enumerate(events):
        if deadline.reached():
            answer.unattempted = event_ids(events[position:])
            logger.info(
                "stopped before the deadline",
                extra={"attempted": position, "unattempted": len(events) - position},
            )
            break
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
