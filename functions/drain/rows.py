"""The drain's rows to SQL: which are stored, which conflict with a stored row, and the
multi-row INSERTs (pure functions but :func:`plan_groups` and :func:`execute`). The queue
message itself is :mod:`functions.common.queue_messages`.

A queued row whose stored key is new is inserted (the first of a batch's rows under one
key wins, as the first request with a key makes the row). One whose key is stored with
the same body hash is the same request again and is skipped. One whose key is stored (or
taken earlier in the batch) with another body hash is a conflict: recorded in
``ingest_conflicts`` with both hashes and its SQS message id, never silently dropped. A
row stored before migration 0007 has no hash: nothing to compare, skipped as before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sql
from functions.common.queue_messages import QueuedRow
from functions.common.resources import Resource, canonical_json
from sql import quote_identifier

# Where the drain records idempotency conflicts (sql/ingest/create_conflicts_table.sql);
# the drain's account may SELECT and INSERT it (infra.database.grants.drain_tables).
CONFLICTS_TABLE = "ingest_conflicts"


@dataclass(frozen=True)
class Conflict:
    """A queued row refused because its stored key holds another body (``stored_hash``)."""

    row: QueuedRow
    stored_hash: str

    def column_values(self) -> list:
        row = self.row
        return [
            row.resource.name,
            row.idempotency_key,
            row.client_key,
            row.principal,
            self.stored_hash,
            row.body_hash,
            row.message_id,
            row.request_id,
            canonical_json(row.values),
        ]


@dataclass
class Plan:
    """What a batch writes: the INSERTs (statement, parameters), the conflicts found, and
    those not recorded before (a redelivered message's conflict is recorded once)."""

    inserts: list[tuple[str, list]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    new_conflicts: list[Conflict] = field(default_factory=list)
    inserted: int = 0


# Rendered once per resource and row count, not per batch: rendering checks every value
# it fills in, which cost about as much as a batch's stored-keys query (make bench).
@functools.lru_cache(maxsize=64)
def insert_statement(resource: Resource, row_count: int) -> str:
    """The multi-row INSERT for ``row_count`` rows of ``resource``."""
    columns = [f.name for f in resource.fields] + ["idempotency_key", "idempotency_body_hash"]
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
    """The SELECT of which of ``key_count`` idempotency keys ``resource``'s table holds,
    and their body hashes."""
    (statement,) = sql.render(
        "ingest/stored_keys.sql",
        table=quote_identifier(resource.table),
        keys=", ".join(["%s"] * key_count),
    )
    return statement


@functools.lru_cache(maxsize=16)
def conflict_statements(count: int) -> tuple[str, str]:
    """The SELECT of recorded conflicts among ``count`` message ids, and the INSERT of
    ``count`` conflicts."""
    (recorded,) = sql.render("ingest/recorded_conflicts.sql", ids=", ".join(["%s"] * count))
    (insert,) = sql.render(
        "ingest/insert_conflicts.sql", rows=", ".join(["(" + ", ".join(["%s"] * 9) + ")"] * count)
    )
    return recorded, insert


def classify(
    rows: list[QueuedRow], stored: dict[str, str | None]
) -> tuple[list[QueuedRow], list[Conflict]]:
    """The rows to insert, and the conflicts, given ``stored``: key -> body hash (None for
    a row stored before hashes were)."""
    fresh, conflicts, seen = [], [], dict(stored)
    for row in rows:
        key = row.idempotency_key
        if key not in seen:
            seen[key] = row.body_hash
            fresh.append(row)
        elif seen[key] is not None and seen[key] != row.body_hash:
            conflicts.append(Conflict(row, seen[key]))
    return fresh, conflicts


def plan_groups(cursor, groups: list[tuple[Resource, list[QueuedRow]]]) -> Plan:
    """Read which keys are stored (and which conflicts recorded) and plan the writes."""
    plan = Plan()
    for resource, group in groups:
        cursor.execute(
            stored_keys_statement(resource, len(group)), [row.idempotency_key for row in group]
        )
        fresh, conflicts = classify(group, dict(cursor.fetchall()))
        if fresh:
            parameters = [value for row in fresh for value in row.column_values()]
            plan.inserts.append((insert_statement(resource, len(fresh)), parameters))
            plan.inserted += len(fresh)
        plan.conflicts += conflicts
    if plan.conflicts:
        recorded_sql, _ = conflict_statements(len(plan.conflicts))
        cursor.execute(recorded_sql, [c.row.message_id for c in plan.conflicts])
        recorded = {message_id for (message_id,) in cursor.fetchall()}
        plan.new_conflicts = [c for c in plan.conflicts if c.row.message_id not in recorded]
        if plan.new_conflicts:
            _, insert_sql = conflict_statements(len(plan.new_conflicts))
            values = [v for c in plan.new_conflicts for v in c.column_values()]
            plan.inserts.append((insert_sql, values))
    return plan


def execute(cursor, plan: Plan) -> int:
    """Run the plan's INSERTs; how many rows (not conflicts) were inserted."""
    for statement, parameters in plan.inserts:
        cursor.execute(statement, parameters)
    return plan.inserted


def write_rows(cursor, rows: list[QueuedRow]) -> int:
    """Insert the rows not stored yet, one multi-row INSERT per table, and record the
    conflicts, in the cursor's transaction; return how many rows were inserted."""
    return write_groups(cursor, rows_by_table(rows))


def write_groups(cursor, groups: list[tuple[Resource, list[QueuedRow]]]) -> int:
    """:func:`write_rows` for rows already grouped by :func:`rows_by_table`."""
    return execute(cursor, plan_groups(cursor, groups))


@dataclass(frozen=True)
class RecordedConflict:
    """One row of ``ingest_conflicts``, as ``aurora-events conflicts`` shows it."""

    recorded_at: object  # datetime, UTC
    resource: str
    stored_key: str
    client_key: str | None
    stored_body_hash: str
    body_hash: str
    message_id: str

    def line(self) -> str:
        """One line: when, what, the keys, both body hashes (16 digits), the message."""
        return (
            f"{self.recorded_at:%Y-%m-%dT%H:%M:%S}Z {self.resource} "
            f"client_key={self.client_key if self.client_key is not None else '-'} "
            f"stored_key={self.stored_key} stored_body={self.stored_body_hash[:16]} "
            f"refused_body={self.body_hash[:16]} message={self.message_id}"
        )


def recorded_conflicts(connection, limit: int) -> list[RecordedConflict]:
    """The newest ``limit`` recorded conflicts, newest first."""
    (statement,) = sql.render("ingest/list_conflicts.sql")
    with connection.cursor() as cursor:
        cursor.execute(statement, [limit])
        return [RecordedConflict(*row) for row in cursor.fetchall()]


def rows_by_table(rows: list[QueuedRow]) -> list[tuple[Resource, list[QueuedRow]]]:
    """Group rows by resource, keeping each group in queue order (which is per-customer order)."""
    groups: dict[str, tuple[Resource, list[QueuedRow]]] = {}
    for row in rows:
        groups.setdefault(row.resource.name, (row.resource, []))[1].append(row)
    return list(groups.values())
