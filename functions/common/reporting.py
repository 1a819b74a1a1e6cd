"""How a row-event handler rejects an event it cannot use, without failing the invocation.

Raising would make Lambda retry the same bad payload twice more and then record a
failure; a malformed event never gets better, so it is logged at ERROR (with the
reason and a short preview) and answered with a ``rejected`` result instead.

"Rejected" means this and only this: a row event the fan-out functions refuse. The ingest
function's 4xx answers are "refused requests" (``functions.ingest.requests.error_response``).
"""

from __future__ import annotations

import json
from typing import Any

PREVIEW_CHARS = 500


def reject_malformed_event(logger, reason: Exception, event: Any) -> dict[str, str]:
    """Log a malformed event and return the ``rejected`` result."""
    try:
        preview = json.dumps(event, ensure_ascii=False, default=repr)[:PREVIEW_CHARS]
    except (TypeError, ValueError):
        preview = repr(event)[:PREVIEW_CHARS]
    logger.error(
        "malformed event rejected", extra={"reason": str(reason), "event_preview": preview}
    )
    return {"status": "rejected", "reason": str(reason)}
