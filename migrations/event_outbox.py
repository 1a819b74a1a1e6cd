"""Alembic operations that create and drop the transactional outbox table.

In a revision, before any trigger with ``delivery="outbox"``::

    def upgrade():
        op.create_event_outbox()
        op.create_lambda_trigger(LambdaTrigger(..., delivery="outbox"))

    def downgrade():
        op.drop_lambda_trigger(...)
        op.drop_event_outbox()

The table is ``aurora_events_outbox`` (``sql/outbox/create_outbox_table.sql``); each op
is the other's reverse. Dropping refuses while events wait in it (they would be lost):
deliver them first, or pass ``discard_pending=True``.
"""

from __future__ import annotations

from alembic.operations import MigrateOperation, Operations

from functions.common.outbox_table import OUTBOX_TABLE
from migrations.offline import OfflineRenderingError, emit
from migrations.row_event_sql import (
    TriggerDefinitionError,
    create_outbox_statements,
    drop_outbox_statements,
)


class OutboxNotEmpty(RuntimeError):
    """The outbox still holds events that were neither delivered nor parked."""


def outbox_exists(connection) -> bool:
    """True when the current database has the outbox table."""
    rows = connection.exec_driver_sql(
        "SELECT COUNT(*) FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
        (OUTBOX_TABLE,),
    )
    return rows.scalar() > 0


def pending_events(connection) -> int:
    """How many events wait in the outbox (neither delivered nor parked)."""
    rows = connection.exec_driver_sql(
        f"SELECT COUNT(*) FROM `{OUTBOX_TABLE}` WHERE delivered_at IS NULL AND parked_at IS NULL"
    )
    return int(rows.scalar())


def _run(connection, statements: list[str]) -> None:
    for statement in statements:
        connection.connection.cursor().execute(statement)


@Operations.register_operation("create_event_outbox")
class CreateEventOutboxOp(MigrateOperation):
    """Create the outbox table; reverse: drop it."""

    @classmethod
    def create_event_outbox(cls, operations: Operations) -> None:
        """Create ``aurora_events_outbox``, which outbox triggers write to."""
        return operations.invoke(cls())

    def reverse(self) -> DropEventOutboxOp:
        return DropEventOutboxOp()


@Operations.register_operation("drop_event_outbox")
class DropEventOutboxOp(MigrateOperation):
    """Drop the outbox table (refused while events wait in it); reverse: create it."""

    def __init__(self, discard_pending: bool = False) -> None:
        self.discard_pending = discard_pending

    @classmethod
    def drop_event_outbox(cls, operations: Operations, *, discard_pending: bool = False) -> None:
        """Drop ``aurora_events_outbox``; with events still pending only if told to."""
        return operations.invoke(cls(discard_pending))

    def reverse(self) -> CreateEventOutboxOp:
        return CreateEventOutboxOp()


@Operations.implementation_for(CreateEventOutboxOp)
def _create_event_outbox(operations: Operations, operation: CreateEventOutboxOp) -> None:
    if operations.migration_context.as_sql:
        emit(operations, create_outbox_statements())
        return
    _run(operations.get_bind(), create_outbox_statements())


@Operations.implementation_for(DropEventOutboxOp)
def _drop_event_outbox(operations: Operations, operation: DropEventOutboxOp) -> None:
    if operations.migration_context.as_sql:
        if not operation.discard_pending:
            # Offline, the events waiting in it cannot be counted: never drop them unseen.
            raise OfflineRenderingError(
                f"offline (--sql), whether {OUTBOX_TABLE} still holds undelivered events "
                "cannot be known; run this downgrade online (it refuses while events wait)"
            )
        emit(operations, drop_outbox_statements())
        return
    connection = operations.get_bind()
    if not outbox_exists(connection):
        return
    pending = pending_events(connection)
    if pending and not operation.discard_pending:
        raise OutboxNotEmpty(
            f"{OUTBOX_TABLE} still holds {pending} undelivered event(s); dropping it would "
            "lose them. Let the relay deliver them (aurora-events outbox), or call "
            "op.drop_event_outbox(discard_pending=True)"
        )
    _run(connection, drop_outbox_statements())


def require_outbox(connection, table: str) -> None:
    """A clear error when an outbox trigger is created before the outbox table."""
    if not outbox_exists(connection):
        raise TriggerDefinitionError(
            f"a trigger on {table!r} with delivery='outbox' writes to {OUTBOX_TABLE}, which "
            "this database does not have: call op.create_event_outbox() first"
        )
