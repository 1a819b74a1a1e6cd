"""Queue messages to rows, and rows to the drain's INSERT statement (pure functions)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sql
from functions.common.resources import InvalidRequest, Resource, resource_named, validate_body
from sql import quote_identifier

MESSAGE_VERSION = 1


class MalformedMessage(ValueError):
    """A queue message the drain cannot turn into a row (it will end in the DLQ)."""


@dataclass(frozen=True)
class QueuedRow:
    resource: Resource
    idempotency_key: str
    values: dict[str, Any]

    def column_values(self) -> list[Any]:
        return [self.values[field.name] for field in self.resource.fields] + [self.idempotency_key]


def parse_message(body: str) -> QueuedRow:
    """Read a message made by the ingest function; re-check it against the schema."""
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


def insert_statement(resource: Resource, row_count: int) -> str:
    """The multi-row idempotent INSERT for ``row_count`` rows of ``resource``."""
    columns = [field.name for field in resource.fields] + ["idempotency_key"]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    (statement,) = sql.render(
        "ingest/insert_rows_idempotent.sql",
        table=quote_identifier(resource.table),
        columns=", ".join(quote_identifier(column) for column in columns),
        rows=", ".join([placeholders] * row_count),
    )
    return statement


def rows_by_table(rows: list[QueuedRow]) -> list[tuple[Resource, list[QueuedRow]]]:
    """Group rows by resource, keeping each group in queue order (which is per-customer order)."""
    groups: dict[str, tuple[Resource, list[QueuedRow]]] = {}
    for row in rows:
        groups.setdefault(row.resource.name, (row.resource, []))[1].append(row)
    return list(groups.values())
