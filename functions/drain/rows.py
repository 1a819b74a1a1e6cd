"""The drain's rows to SQL: which are stored, and the multi-row INSERT (pure functions but
:func:`write_rows`). The queue message itself is :mod:`functions.common.queue_messages`."""

from __future__ import annotations

import functools

import sql
from functions.common.queue_messages import QueuedRow
from functions.common.resources import Resource
from sql import quote_identifier


# Rendered once per resource and row count, not per batch: rendering checks every value
# it fills in, which cost about as much as a batch's stored-keys query (make bench).
@functools.lru_cache(maxsize=64)
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


@functools.lru_cache(maxsize=64)
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
    return write_groups(cursor, rows_by_table(rows))


def write_groups(cursor, groups: list[tuple[Resource, list[QueuedRow]]]) -> int:
    """:func:`write_rows` for rows already grouped by :func:`rows_by_table`."""
    inserted = 0
    for resource, group in groups:
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
