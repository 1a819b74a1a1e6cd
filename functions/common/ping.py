"""The doctor's probe: ``SELECT lambda_sync(<function>, '{"ping": 1}')`` asks a function
Aurora calls to answer without doing its work, so the probe proves the whole call
(Aurora's role, grant and route, and the function) without sending an event.

Declared once here: the doctor sends :data:`PING_PAYLOAD`, the row-event handlers
(:func:`functions.common.handlers.row_event_handler`) and the outbox relay answer it with
:func:`pong`.
"""

from __future__ import annotations

import json
from typing import Any

PING = {"ping": 1}
PING_PAYLOAD = json.dumps(PING)  # '{"ping": 1}', the text the probe sends


def is_ping(event: Any) -> bool:
    """True for exactly ``{"ping": 1}`` (not ``{"ping": true}``, not with other keys)."""
    return (
        isinstance(event, dict)
        and set(event) == {"ping"}
        and type(event["ping"]) is int
        and event["ping"] == 1
    )


def pong(context) -> dict[str, Any]:
    """The answer to a ping: which function answered (the deployed name)."""
    return {"status": "pong", "function": getattr(context, "function_name", None)}
