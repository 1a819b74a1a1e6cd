"""The row event: what a trigger sends when a row is inserted (schema version 1).

The SQL that builds it is ``sql/triggers/row_event_payload.sql``; this module is the
Python side: the field names, and a parser that names the first thing wrong with a
malformed event. Fields:

==============  =========================================================================
version         1 (an integer; a new incompatible shape gets a new number)
event_id        a UUID made by the database when the trigger ran
occurred_at     UTC time the trigger ran, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
database        the schema the table lives in
table           the table's name
operation       ``INSERT``
delivery        how it left the database: ``direct`` (lambda_async from the trigger);
                ``outbox`` is reserved for the transactional outbox
primary_key     an object: primary-key column -> value
row             an object: each chosen column -> value (see the README for type formats)
==============  =========================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1
OPERATIONS = ("INSERT",)
DELIVERIES = ("direct", "outbox")


class MalformedEvent(ValueError):
    """The payload is not a row event of a known version; the message says why."""


@dataclass(frozen=True)
class RowEvent:
    version: int
    event_id: str
    occurred_at: str
    database: str
    table: str
    operation: str
    delivery: str
    primary_key: dict[str, Any]
    row: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "event_id": self.event_id,
            "occurred_at": self.occurred_at,
            "database": self.database,
            "table": self.table,
            "operation": self.operation,
            "delivery": self.delivery,
            "primary_key": self.primary_key,
            "row": self.row,
        }

    def primary_key_text(self) -> str:
        """``id=5`` or ``a=1,b=2``: a short label for subjects and logs."""
        return ",".join(f"{key}={value}" for key, value in self.primary_key.items())


_STRING_FIELDS = ("event_id", "occurred_at", "database", "table", "operation", "delivery")


def parse_row_event(payload: Any) -> RowEvent:
    """Validate a decoded payload (or its JSON text) and return the event."""
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except ValueError as error:
            raise MalformedEvent(f"payload is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise MalformedEvent(f"payload must be a JSON object, got {type(payload).__name__}")
    version = payload.get("version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise MalformedEvent(f"unsupported event version {version!r} (expected {SCHEMA_VERSION})")
    for name in _STRING_FIELDS:
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            raise MalformedEvent(f"field {name!r} must be a non-empty string, got {value!r}")
    if payload["operation"] not in OPERATIONS:
        raise MalformedEvent(f"field 'operation' must be one of {OPERATIONS}")
    if payload["delivery"] not in DELIVERIES:
        raise MalformedEvent(f"field 'delivery' must be one of {DELIVERIES}")
    for name in ("primary_key", "row"):
        if not isinstance(payload.get(name), dict):
            raise MalformedEvent(f"field {name!r} must be an object")
    if not payload["primary_key"]:
        raise MalformedEvent("field 'primary_key' must name at least one column")
    return RowEvent(
        version=version,
        **{name: payload[name] for name in _STRING_FIELDS},
        primary_key=payload["primary_key"],
        row=payload["row"],
    )
