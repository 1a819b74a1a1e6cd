"""The shape every row-event handler shares: parse, deliver, or report a malformed event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.common.events import MalformedEvent, RowEvent, parse_row_event
from functions.common.reporting import reject_malformed_event


def row_event_handler(logger, deliver: Callable[[RowEvent], dict[str, Any]]):
    """A Lambda handler that parses the event and passes it to ``deliver``.

    A malformed event is logged and answered ``rejected`` (see
    :mod:`functions.common.reporting`); ``deliver``'s errors propagate, so Lambda retries.
    """

    @logger.inject_lambda_context
    def handler(event, context):
        try:
            row_event = parse_row_event(event)
        except MalformedEvent as error:
            return reject_malformed_event(logger, error, event)
        return deliver(row_event)

    return handler
