"""The queue message: what the ingest function puts on the ingest queue for the drain
(schema version 2). The ingest function builds it (:func:`message_body`), the drain reads
it back and re-checks it against the resource's schema (:func:`parse_message`).

The body is compact JSON (no spaces, non-ASCII kept as UTF-8), with these fields in
this order:

===============  ========================================================================
version          2 (an integer; a new incompatible shape gets a new number)
resource         the resource's name (``customers``, ``orders``): which table gets the row
principal        the authenticated caller (its ARN, or its token's ``sub``), part of the
                 key's scope; ``null`` when the API is anonymous (``api_auth = "none"``)
client_key       the client's ``Idempotency-Key``, or ``null`` when it sent none
idempotency_key  the row's identity, the stored key:
                 :func:`functions.common.resources.stored_key` of the above and ``data``
body_hash        :func:`functions.common.resources.body_hash` of ``data``
request_id       API Gateway's request id, or ``""``
received_at      UTC time the ingest function built it, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
data             an object: each field of the resource -> its validated value
===============  ========================================================================

The drain derives ``idempotency_key`` and ``body_hash`` again from the rest and refuses
a message whose fields disagree. A version 1 message (no scope: its ``idempotency_key``
is the client's key as sent; queued before the upgrade) is still read, under that key.
``principal`` has been part of version 2 from the start (``null`` before the API
authenticated its callers), and every version 2 drain derives the key with it: a message
with a principal is no new shape, so it is still version 2.

The SQS deduplication id is :func:`deduplication_id`; the message group is the
resource's (:func:`functions.common.resources.message_group_id`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from functions.common.resources import (
    InvalidRequest,
    Resource,
    body_hash,
    resource_named,
    stored_key,
    validate_body,
)

MESSAGE_VERSION = 2
LEGACY_VERSION = 1  # unscoped keys, read for the messages queued before the upgrade


class MalformedMessage(ValueError):
    """A queue message the drain cannot turn into a row (it will end in the DLQ)."""


@dataclass(frozen=True)
class QueuedRow:
    """A queue message read back: the row it asks for, its stored idempotency key and its
    body's hash; the rest is what a recorded conflict names (``message_id`` is SQS's,
    set by the drain)."""

    resource: Resource
    idempotency_key: str
    values: dict[str, Any]
    body_hash: str = ""
    client_key: str | None = None
    principal: str | None = None
    request_id: str = ""
    message_id: str = ""

    def __post_init__(self) -> None:
        if not self.body_hash:  # rows built by hand (tests, bench): the values' own hash
            object.__setattr__(self, "body_hash", body_hash(self.values))

    def column_values(self) -> list[Any]:
        return [self.values[field.name] for field in self.resource.fields] + [
            self.idempotency_key,
            self.body_hash,
        ]


def queued_row(
    resource: Resource,
    values: dict[str, Any],
    client_key: str | None,
    principal: str | None = None,
    request_id: str = "",
) -> QueuedRow:
    """The row a validated request asks for, under its scoped key."""
    hashed = body_hash(values)
    return QueuedRow(
        resource,
        stored_key(resource, values, client_key, principal, hashed),
        values,
        hashed,
        client_key,
        principal,
        request_id,
    )


def message_body(row: QueuedRow, now: datetime | None = None) -> str:
    """The queue message's JSON text: what the drain needs to write the row."""
    received = (now or datetime.now(UTC)).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return json.dumps(
        {
            "version": MESSAGE_VERSION,
            "resource": row.resource.name,
            "principal": row.principal,
            "client_key": row.client_key,
            "idempotency_key": row.idempotency_key,
            "body_hash": row.body_hash,
            "request_id": row.request_id,
            "received_at": received,
            "data": row.values,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def deduplication_id(row: QueuedRow) -> str:
    """The SQS deduplication id: SHA-256 of ``<resource>:<stored key>:<body hash>``.

    The body's hash is part of it: SQS drops a message whose id it saw in the last five
    minutes, so with the key alone a second request with another body would vanish in
    the queue instead of reaching the drain, which records it as a conflict. An exact
    resend has the same id and is dropped there, as it would be skipped by the drain."""
    text = f"{row.resource.name}:{row.idempotency_key}:{row.body_hash}"
    return hashlib.sha256(text.encode()).hexdigest()


def parse_message(body: str, message_id: str = "") -> QueuedRow:
    """Read a message made by :func:`message_body`; re-check it against the schema, and
    its key and body hash against the values (``message_id``: SQS's, for the record)."""
    try:
        message = json.loads(body)
    except ValueError as error:
        raise MalformedMessage(f"message is not JSON: {error}") from None
    if not isinstance(message, dict) or message.get("version") not in (
        MESSAGE_VERSION,
        LEGACY_VERSION,
    ):
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
    request_id = message.get("request_id")
    request_id = request_id if isinstance(request_id, str) else ""
    if message["version"] == LEGACY_VERSION:
        return QueuedRow(resource, key, values, request_id=request_id, message_id=message_id)
    client_key, principal = message.get("client_key"), message.get("principal")
    if not all(isinstance(v, str | None) for v in (client_key, principal)):
        raise MalformedMessage("message's client_key and principal must be strings or null")
    row = queued_row(resource, values, client_key, principal, request_id)
    if (key, message.get("body_hash")) != (row.idempotency_key, row.body_hash):
        raise MalformedMessage("message's idempotency_key or body_hash does not match its data")
    return replace(row, message_id=message_id)
