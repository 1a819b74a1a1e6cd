"""Alembic operations that install, replace and drop Lambda triggers.

In a revision::

    from migrations.lambda_trigger import LambdaTrigger

    FEEDBACK_NOTIFY = LambdaTrigger(
        table="customer_feedback",
        function="notify",                  # a catalog name; the ARN is looked up at upgrade
        columns=("id", "customer_name", "feedback"),
    )

    def upgrade():
        op.create_lambda_trigger(FEEDBACK_NOTIFY)

    def downgrade():
        op.drop_lambda_trigger(FEEDBACK_NOTIFY)

Each operation object knows its reverse (create <-> drop; replace(new, old) <->
replace(old, new)): a downgrade may run ``op.invoke(operation.reverse())`` rather than
spell the opposite out. The project's triggers are declared in :mod:`migrations.declared`;
``alembic revision --autogenerate`` writes these operations for what differs
(:mod:`migrations.trigger_compare`), and ``alembic check`` fails while anything does. A
trigger that changes gets a new revision with ``op.replace_lambda_trigger(new,
replaces=old)``; a landed revision is never edited. Triggers are read back from the
database by :mod:`migrations.trigger_reader` (``LambdaTrigger.from_database``).

``delivery`` is chosen per trigger: ``"direct"`` calls lambda_async from the trigger,
once per row, as AWS's guide does (not undone by ROLLBACK; a failed call fails the
INSERT, and so does a row whose event is over Lambda's 1 MB asynchronous limit);
``"outbox"`` writes the event to the outbox table in the same transaction
(``op.create_event_outbox()`` first, see :mod:`migrations.event_outbox`) and rings the
relay, whose failure never fails the INSERT.

``template_version`` picks the trigger's SQL text (``row_event_sql.TRIGGER_TEXTS``): outbox
text 2 (revision 0005) writes the same rows and events as text 1 for less per row; outbox
text 3 (revision 0006) writes what text 2 writes and shares its doorbell among all
connections (at most one ring per database per interval, not one per connection). The
class's default, 1, is what the landed revisions render, so it never changes (pinned:
tests/migrations/test_landed_renderings.py). A new trigger is declared with
:meth:`LambdaTrigger.declare`, whose default is the delivery's best text (:data:`BEST_TEXT`),
and every revision names its text explicitly (autogenerate writes ``template_version=``),
so a later text changes no revision: it makes ``alembic check`` fail until a revision
replaces the installed triggers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from alembic.operations import MigrateOperation, Operations

import sql
from migrations.event_outbox import require_outbox
from migrations.function_arns import resolve_function_arn
from migrations.offline import emit, offline_table, resolve_offline
from migrations.row_event_sql import (
    TRIGGER_TEXTS,
    TriggerDefinitionError,
    create_trigger_statement,
    drop_trigger_statements,
    outbox_trigger_statement,
    payload_expression,
    replace_trigger_statements,
    trigger_text,
)
from sql import quote_identifier

DELIVERY_MODES = ("direct", "outbox")
TRIGGER_EVENTS = ("INSERT", "UPDATE", "DELETE")
# Each delivery's best text, what LambdaTrigger.declare gives a new trigger: the newest one.
BEST_TEXT = {
    delivery: max(version for mode, version in TRIGGER_TEXTS if mode == delivery)
    for delivery in DELIVERY_MODES
}
MAX_IDENTIFIER = 64
# The catalog function the outbox trigger's doorbell asks to run.
RELAY_FUNCTION = "relay"
# A connection looks at the doorbell at most once per this long (a bulk insert rings a few
# times); from text 3 on, one ring per interval for all connections of the database.
DOORBELL_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class LambdaTrigger:
    """An AFTER INSERT trigger that sends each new row to a Lambda function."""

    table: str
    function: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...] | None = None  # None: the table's primary key
    name: str | None = None  # None: <table>_ai_<function>
    delivery: str = "direct"
    # Which text of the delivery's trigger (row_event_sql.TRIGGER_TEXTS): 1 is what the
    # landed revisions render (this default never changes; new triggers: declare()); outbox
    # 2 writes the same rows for less (revision 0005); outbox 3, text 2 with one doorbell
    # for all connections (revision 0006).
    template_version: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.columns, str):
            raise TriggerDefinitionError("columns must be a tuple of column names, not one string")
        object.__setattr__(self, "columns", tuple(self.columns))
        if self.primary_key is not None:
            object.__setattr__(self, "primary_key", tuple(self.primary_key))
        if self.delivery not in DELIVERY_MODES:
            raise TriggerDefinitionError(
                f"delivery {self.delivery!r} is not available (choose from {DELIVERY_MODES})"
            )
        trigger_text(self.delivery, self.template_version)  # raises when there is none
        if len(self.trigger_name) > MAX_IDENTIFIER:
            raise TriggerDefinitionError(
                f"trigger name {self.trigger_name!r} is longer than {MAX_IDENTIFIER} "
                "characters: give the trigger a shorter name="
            )

    @property
    def trigger_name(self) -> str:
        return self.name or f"{self.table}_ai_{self.function}"

    @classmethod
    def declare(
        cls,
        table: str,
        function: str,
        columns: Sequence[str],
        *,
        primary_key: Sequence[str] | None = None,
        name: str | None = None,
        delivery: str = "direct",
        template_version: int | None = None,
    ) -> LambdaTrigger:
        """A new trigger, with the delivery's best text unless told otherwise
        (``template_version`` None: :data:`BEST_TEXT`). The class's own default stays text
        1, which landed revisions rely on; revisions, written by autogenerate or by hand,
        name their text explicitly, so a later, better text changes none of them."""
        if delivery not in BEST_TEXT:
            raise TriggerDefinitionError(
                f"delivery {delivery!r} is not available (choose from {DELIVERY_MODES})"
            )
        return cls(
            table=table,
            function=function,
            columns=tuple(columns),
            primary_key=primary_key,
            name=name,
            delivery=delivery,
            template_version=BEST_TEXT[delivery] if template_version is None else template_version,
        )

    @classmethod
    def from_database(cls, connection, schema: str | None = None) -> list[LambdaTrigger]:
        """The triggers of ``schema`` (None: the connection's) that a text of this project
        renders exactly, as declarations (:func:`migrations.trigger_reader.from_database`)."""
        from migrations.trigger_reader import from_database

        return from_database(connection, schema)


@dataclass(frozen=True)
class InstalledText:
    """A trigger as the server holds it, body verbatim: what a revision restores when the
    installed trigger is no rendering of a :class:`LambdaTrigger` (changed by hand).

    Autogenerate writes one as the ``replaces=`` of a replacement, or the trigger of a
    drop, so that the downgrade puts back exactly what was there (its ARNs included)."""

    name: str
    table: str
    body: str
    timing: str = "AFTER"
    event: str = "INSERT"

    def __post_init__(self) -> None:
        if self.timing not in ("BEFORE", "AFTER") or self.event not in TRIGGER_EVENTS:
            raise TriggerDefinitionError(f"no trigger fires {self.timing} {self.event}")

    @property
    def trigger_name(self) -> str:
        return self.name


# -- reading the table ---------------------------------------------------------------


def table_columns(connection, table: str) -> dict[str, str]:
    """``{column: data_type}`` of ``table`` in the current database, in table order."""
    rows = connection.exec_driver_sql(
        "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (table,),
    )
    return {name: data_type for name, data_type in rows}


def table_primary_key(connection, table: str) -> tuple[str, ...]:
    rows = connection.exec_driver_sql(
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' "
        "ORDER BY ORDINAL_POSITION",
        (table,),
    )
    return tuple(name for (name,) in rows)


def create_statement_for(connection, trigger: LambdaTrigger | InstalledText) -> str:
    """Render ``trigger``'s CREATE TRIGGER against the live table and the resolved ARN."""
    if isinstance(trigger, InstalledText):
        (head,) = sql.render(
            "triggers/create_trigger_head.sql",
            trigger=quote_identifier(trigger.name),
            timing=trigger.timing,
            event=trigger.event,
            table=quote_identifier(trigger.table),
        )
        return f"{head}\n{trigger.body}"
    column_types = table_columns(connection, trigger.table)
    primary_key = trigger.primary_key or table_primary_key(connection, trigger.table)
    if trigger.delivery == "outbox":
        require_outbox(connection, trigger.table)
    return render_statement(trigger, column_types, primary_key, resolve_function_arn)


def render_statement(
    trigger: LambdaTrigger,
    column_types: Mapping[str, str],
    primary_key: Sequence[str],
    resolve: Callable[[str], str],
) -> str:
    """``trigger``'s CREATE TRIGGER for a table of ``column_types`` whose primary key is
    ``primary_key`` (used when the trigger names none), each catalog function made an ARN
    by ``resolve`` (pure: the live and the offline renderings, and the pinned ones)."""
    primary_key = trigger.primary_key or tuple(primary_key)
    text = trigger_text(trigger.delivery, trigger.template_version)
    payload = payload_expression(
        trigger.table, trigger.columns, primary_key, column_types, trigger.delivery, text.event_id
    )
    arn = resolve(trigger.function)
    if trigger.delivery == "outbox":
        return outbox_trigger_statement(
            trigger.trigger_name,
            trigger.table,
            arn,
            resolve(RELAY_FUNCTION),
            payload,
            DOORBELL_INTERVAL_SECONDS,
            trigger.template_version,
        )
    return create_trigger_statement(trigger.trigger_name, trigger.table, arn, payload)


def _create_statement(operations: Operations, trigger: LambdaTrigger | InstalledText) -> str:
    """Online: against the live table and the deployed function. Offline (``--sql``): the
    tables this run created and the ARNs in the environment (:mod:`migrations.offline`)."""
    if not operations.migration_context.as_sql:
        return create_statement_for(operations.get_bind(), trigger)
    if isinstance(trigger, InstalledText):
        return create_statement_for(None, trigger)
    column_types, primary_key = offline_table(operations, trigger.table)
    return render_statement(trigger, column_types, primary_key, resolve_offline)


def _execute(operations: Operations, statements: list[str]) -> None:
    if operations.migration_context.as_sql:
        emit(operations, statements)
    else:
        _run(operations.get_bind(), statements)


def _run(connection, statements: list[str]) -> None:
    for statement in statements:
        # Straight to the DB-API cursor: no parameters, so '%' and ':' in the SQL stay as written.
        connection.connection.cursor().execute(statement)


# -- operations ----------------------------------------------------------------------


@Operations.register_operation("create_lambda_trigger")
class CreateLambdaTriggerOp(MigrateOperation):
    """Create a Lambda trigger; reverse: drop it."""

    def __init__(self, trigger: LambdaTrigger) -> None:
        self.trigger = trigger

    @classmethod
    def create_lambda_trigger(cls, operations: Operations, trigger: LambdaTrigger) -> None:
        """Install ``trigger`` (a :class:`LambdaTrigger`)."""
        return operations.invoke(cls(trigger))

    def reverse(self) -> DropLambdaTriggerOp:
        return DropLambdaTriggerOp(self.trigger)

    def to_diff_tuple(self) -> tuple:
        """What ``alembic check`` names: the trigger is declared but not installed."""
        return ("add_lambda_trigger", self.trigger.trigger_name, describe(self.trigger))


@Operations.register_operation("drop_lambda_trigger")
class DropLambdaTriggerOp(MigrateOperation):
    """Drop a Lambda trigger; reverse: create it again."""

    def __init__(self, trigger: LambdaTrigger) -> None:
        self.trigger = trigger

    @classmethod
    def drop_lambda_trigger(cls, operations: Operations, trigger: LambdaTrigger) -> None:
        """Remove ``trigger``; dropping one that is not there is not an error."""
        return operations.invoke(cls(trigger))

    def reverse(self) -> CreateLambdaTriggerOp:
        return CreateLambdaTriggerOp(self.trigger)

    def to_diff_tuple(self) -> tuple:
        """Installed, managed by this project, and not declared."""
        return ("remove_lambda_trigger", self.trigger.trigger_name, describe(self.trigger))


@Operations.register_operation("replace_lambda_trigger")
class ReplaceLambdaTriggerOp(MigrateOperation):
    """Swap ``replaces`` for ``trigger`` on the same table; reverse: swap back."""

    def __init__(self, trigger: LambdaTrigger, replaces: LambdaTrigger) -> None:
        if trigger.table != replaces.table:
            raise TriggerDefinitionError(
                f"replace_lambda_trigger works on one table; got {replaces.table!r} -> "
                f"{trigger.table!r} (drop one and create the other instead)"
            )
        self.trigger = trigger
        self.replaces = replaces

    @classmethod
    def replace_lambda_trigger(
        cls, operations: Operations, trigger: LambdaTrigger, *, replaces: LambdaTrigger
    ) -> None:
        """Replace ``replaces`` with ``trigger``, with no moment where neither fires."""
        return operations.invoke(cls(trigger, replaces))

    def reverse(self) -> ReplaceLambdaTriggerOp:
        return ReplaceLambdaTriggerOp(self.replaces, replaces=self.trigger)

    def to_diff_tuple(self) -> tuple:
        """Installed otherwise than declared: what it is, what it is to be."""
        return (
            "modify_lambda_trigger",
            self.trigger.trigger_name,
            describe(self.replaces),
            describe(self.trigger),
        )


def describe(trigger: LambdaTrigger | InstalledText) -> str:
    """``orders: outbox text 3 -> notify (id, amount)``, or ``orders: changed by hand``."""
    if isinstance(trigger, InstalledText):
        return f"{trigger.table}: {trigger.timing} {trigger.event}, a text no declaration renders"
    key = f", primary key ({', '.join(trigger.primary_key)})" if trigger.primary_key else ""
    return (
        f"{trigger.table}: {trigger.delivery} text {trigger.template_version} -> "
        f"{trigger.function} ({', '.join(trigger.columns)}){key}"
    )


@Operations.implementation_for(CreateLambdaTriggerOp)
def _create_lambda_trigger(operations: Operations, operation: CreateLambdaTriggerOp) -> None:
    _execute(operations, [_create_statement(operations, operation.trigger)])


@Operations.implementation_for(DropLambdaTriggerOp)
def _drop_lambda_trigger(operations: Operations, operation: DropLambdaTriggerOp) -> None:
    _execute(operations, drop_trigger_statements(operation.trigger.trigger_name))


@Operations.implementation_for(ReplaceLambdaTriggerOp)
def _replace_lambda_trigger(operations: Operations, operation: ReplaceLambdaTriggerOp) -> None:
    create = _create_statement(operations, operation.trigger)
    _execute(
        operations,
        replace_trigger_statements(
            operation.trigger.table, operation.replaces.trigger_name, create
        ),
    )
