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
    """The multi-row INSERT for ``row_count`` rows of ``resource``."""
    columns = [field.name for field in resource.fields] + ["idempotency_key"]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    (statement,) = sql.render(
        "ingest/insert_rows.sql",
        table=quote_identifier(resource.table),
        columns=", ".join(quote_identifier(column) for column in columns),
        rows=", ".join([placeholders] * row_count),
    )
    return statement


def stored_keys_statement(resource: Resource, key_count: int) -> str:
    """The SELECT of which of ``key_count`` idempotency keys ``resource``'s table holds."""
    (statement,) = sql.render(
        "ingest/stored_keys.sql",
        table=quote_identifier(resource.table),
        keys=", ".join(["%s"] * key_count),
    )
    return statement


def rows_to_insert(rows: list[QueuedRow], stored: set[str]) -> list[QueuedRow]:
    """The rows whose keys are not in ``stored``, each key once (the first message wins,
    as the first request with a key makes the row)."""
    fresh, seen = [], set(stored)
    for row in rows:
        if row.idempotency_key not in seen:
            seen.add(row.idempotency_key)
            fresh.append(row)
    return fresh


def write_rows(cursor, rows: list[QueuedRow]) -> int:
    """Insert the rows not stored yet, one multi-row INSERT per table, in the cursor's
    transaction; return how many were inserted."""
    inserted = 0
    for resource, group in rows_by_table(rows):
        cursor.execute(
            stored_keys_statement(resource, len(group)), [row.idempotency_key for row in group]
        )
        fresh = rows_to_insert(group, {key for (key,) in cursor.fetchall()})
        if fresh:
            parameters = [value for row in fresh for value in row.column_values()]
            cursor.execute(insert_statement(resource, len(fresh)), parameters)
            inserted += len(fresh)
    return inserted


def rows_by_table(rows: list[QueuedRow]) -> list[tuple[Resource, list[QueuedRow]]]:
    """Group rows by resource, keeping each group in queue order (which is per-customer order)."""
    groups: dict[str, tuple[Resource, list[QueuedRow]]] = {}
    for row in rows:
        groups.setdefault(row.resource.name, (row.resource, []))[1].append(row)
    return list(groups.values())
