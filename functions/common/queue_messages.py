"""The queue message: what the ingest function puts on the ingest queue for the drain
(schema version 1). The ingest function builds it (:func:`message_body`), the drain reads
it back and re-checks it against the resource's schema (:func:`parse_message`).

The body is compact JSON (no spaces, non-ASCII kept as UTF-8), with these fields in
this order:

===============  ========================================================================
version          1 (an integer; a new incompatible shape gets a new number)
resource         the resource's name (``customers``, ``orders``): which table gets the row
idempotency_key  the row's identity: the client's ``Idempotency-Key`` or the request's hash
request_id       API Gateway's request id, or ``""``
received_at      UTC time the ingest function built it, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
data             an object: each field of the resource -> its validated value
===============  ========================================================================

The SQS deduplication id is :func:`deduplication_id`; the message group is the
resource's (:func:`functions.common.resources.message_group_id`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.common.resources import InvalidRequest, Resource, resource_named, validate_body

MESSAGE_VERSION = 1


class MalformedMessage(ValueError):
    """A queue message the drain cannot turn into a row (it will end in the DLQ)."""


@dataclass(frozen=True)
class QueuedRow:
    """A queue message read back: the row it asks for, and its idempotency key."""

    resource: Resource
    idempotency_key: str
    values: dict[str, Any]

    def column_values(self) -> list[Any]:
        return [self.values[field.name] for field in self.resource.fields] + [self.idempotency_key]


def message_body(
    resource: Resource, key: str, request_id: str, values: dict, now: datetime | None = None
) -> str:
    """The queue message's JSON text: what the drain needs to write the row."""
    received = (now or datetime.now(UTC)).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return json.dumps(
        {
            "version": MESSAGE_VERSION,
            "resource": resource.name,
            "idempotency_key": key,
            "request_id": request_id,
            "received_at": received,
            "data": values,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def deduplication_id(resource: Resource, key: str) -> str:
    """The SQS deduplication id: SHA-256 of ``<resource>:<key>``."""
    return hashlib.sha256(f"{resource.name}:{key}".encode()).hexdigest()


def parse_message(body: str) -> QueuedRow:
    """Read a message made by :func:`message_body`; re-check it against the schema."""
    try:
        message = json.loads(body)
    except ValueError as error:
        raise MalformedMessage(f"message is not JSON: {error}") from None
    if not isinstance(message, dict) or message.get("version") != MESSAGE_VERSION:
        raise MalformedMessage(
            f"unsupported message version {message.get('version')!r}"
            if isinstance(message, dict)
            else "message is not an object"
        )
    key = message.get("idempotency_key")
    if not isinstance(key, str) or not key:
        raise MalformedMessage("message has no idempotency_key")
    try:
        resource = resource_named(message.get("resource"))
        values = validate_body(resource, message.get("data"))
    except InvalidRequest as error:
        raise MalformedMessage(str(error)) from None
    return QueuedRow(resource, key, values)
