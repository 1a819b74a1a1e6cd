"""The row event: what a trigger sends when a row is inserted, updated or deleted.

The SQL that builds it is ``sql/triggers/row_event_payload.sql`` (INSERT, schema version 1),
``row_update_payload.sql`` and ``row_delete_payload.sql`` (UPDATE and DELETE, schema
version 2); this module is the Python side: the field names, and a parser that names the
first thing wrong with a malformed event. Fields:

==============  =========================================================================
version         1 (INSERT) or 2 (UPDATE, DELETE): an integer, the shape of the event
event_id        a UUID made by the database when the trigger ran
occurred_at     UTC time the trigger ran, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
database        the schema the table lives in
table           the table's name
operation       ``INSERT`` (version 1); ``UPDATE`` or ``DELETE`` (version 2)
delivery        how it left the database: ``direct`` (lambda_async from the trigger) or
                ``outbox`` (the transactional outbox and its relay)
primary_key     an object: primary-key column -> value (UPDATE: the key after, which is
                also the key before; DELETE: the deleted row's key)
row             INSERT: an object, each chosen column -> value (see the README for formats)
before          UPDATE, DELETE: the chosen columns' values before the statement
after           UPDATE: the chosen columns' values after it
changed         UPDATE: the names of the chosen columns whose values differ (NULL-safe:
                NULL -> NULL is no change), in the trigger's column order, never empty
==============  =========================================================================

Why version 2, not version 1 extended: a version-1 parser (this module before change
events, and any receiver written against the README's version 1) requires ``row`` and
``operation`` ``INSERT``; an UPDATE or DELETE event under version 1 would be refused as
malformed by some and misread by others (an UPDATE's ``after`` taken for a new row). A
change that breaks consumers gets a new number. INSERT events keep version 1, unchanged
byte for byte in shape: receivers that only know INSERTs go on working, and refuse (by
version) exactly the events they cannot read. This parser reads both.

An UPDATE that changes a row's primary key is sent as two events: a DELETE of the old key
(``before``: the row as it was) and an INSERT of the new (``row``: as it is), in that
order. A receiver that keeps rows by key follows it with no special case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1  # INSERT events
CHANGE_SCHEMA_VERSION = 2  # UPDATE and DELETE events
VERSIONS = {SCHEMA_VERSION: ("INSERT",), CHANGE_SCHEMA_VERSION: ("UPDATE", "DELETE")}
OPERATIONS = ("INSERT", "UPDATE", "DELETE")
DELIVERIES = ("direct", "outbox")
# The images each operation carries (objects column -> value).
IMAGES = {"INSERT": ("row",), "UPDATE": ("before", "after"), "DELETE": ("before",)}


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
    row: dict[str, Any] | None = None  # INSERT
    before: dict[str, Any] | None = None  # UPDATE, DELETE
    after: dict[str, Any] | None = None  # UPDATE
    changed: tuple[str, ...] | None = None  # UPDATE

    def as_dict(self) -> dict[str, Any]:
        """The event as the trigger sent it (only its operation's fields)."""
        fields = {
            "version": self.version,
            "event_id": self.event_id,
            "occurred_at": self.occurred_at,
            "database": self.database,
            "table": self.table,
            "operation": self.operation,
            "delivery": self.delivery,
            "primary_key": self.primary_key,
        }
        for image in IMAGES[self.operation]:
            fields[image] = getattr(self, image)
        if self.operation == "UPDATE":
            fields["changed"] = list(self.changed or ())
        return fields

    @property
    def values(self) -> dict[str, Any]:
        """The row's latest values: ``row`` (INSERT), ``after`` (UPDATE), ``before`` (DELETE)."""
        return {"INSERT": self.row, "UPDATE": self.after, "DELETE": self.before}[
            self.operation
        ] or {}

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
    if isinstance(version, bool) or version not in VERSIONS:
        raise MalformedEvent(
            f"unsupported event version {version!r} (expected one of {sorted(VERSIONS)})"
        )
    for name in _STRING_FIELDS:
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            raise MalformedEvent(f"field {name!r} must be a non-empty string, got {value!r}")
    operation = payload["operation"]
    if operation not in VERSIONS[version]:
        raise MalformedEvent(f"field 'operation' must be one of {VERSIONS[version]}")
    if payload["delivery"] not in DELIVERIES:
        raise MalformedEvent(f"field 'delivery' must be one of {DELIVERIES}")
    for name in ("primary_key", *IMAGES[operation]):
        if not isinstance(payload.get(name), dict):
            raise MalformedEvent(f"field {name!r} must be an object")
    if not payload["primary_key"]:
        raise MalformedEvent("field 'primary_key' must name at least one column")
    changed = None
    if operation == "UPDATE":
        changed = payload.get("changed")
        if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
            raise MalformedEvent("field 'changed' must be a list of column names")
        changed = tuple(changed)
    return RowEvent(
        version=version,
        **{name: payload[name] for name in _STRING_FIELDS},
        primary_key=payload["primary_key"],
        **{image: payload[image] for image in IMAGES[operation]},
        changed=changed,
    )
