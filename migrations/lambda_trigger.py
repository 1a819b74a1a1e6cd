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
from dataclasses import dataclass, replace

from alembic.operations import MigrateOperation, Operations

import sql
from migrations.event_outbox import require_outbox
from migrations.function_arns import resolve_function_arn
from migrations.offline import emit, offline_table, resolve_offline
from migrations.row_event_sql import (
    TRIGGER_TEXTS,
    ChangeTrigger,
    TriggerDefinitionError,
    change_trigger_statement,
    create_trigger_statement,
    drop_trigger_statements,
    outbox_trigger_statement,
    payload_expression,
    replace_triggers_statements,
    trigger_text,
)
from sql import SqlTemplateError, quote_identifier

DELIVERY_MODES = ("direct", "outbox")
TRIGGER_EVENTS = ("INSERT", "UPDATE", "DELETE")
# The part of a trigger's default name that says what it fires on: <table>_ai_<function>.
NAME_CODES = {"INSERT": "ai", "UPDATE": "au", "DELETE": "ad"}
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
    """Triggers that send each inserted, updated or deleted row to a Lambda function: one
    declaration, one MySQL trigger per operation (MySQL has no multi-event trigger),
    named ``<table>_ai_<function>``, ``<table>_au_<function>``, ``<table>_ad_<function>``
    (with ``name=``: that name for a single operation, else ``<name>_ai`` and so on).

    ``operations`` (default INSERT, what the landed revisions render), ``when`` (an SQL
    condition on NEW/OLD, for every operation of the declaration) and ``columns_changed``
    (an UPDATE fires only if one of them changed, NULL-safe) need a text of change
    events: outbox 4 or direct 2 (what :meth:`declare` gives)."""

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
    # What fires it, in TRIGGER_EVENTS order (outbox text 4 / direct text 2 for more than INSERT).
    operations: tuple[str, ...] = ("INSERT",)
    # An SQL condition (NEW.x, OLD.x): the event is sent only when it is true.
    when: str | None = None
    # UPDATE: sent only if one of these changed (default: any carried column).
    columns_changed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field in ("columns", "operations", "columns_changed"):
            if isinstance(getattr(self, field), str):
                raise TriggerDefinitionError(
                    f"{field} must be a tuple of "
                    f"{'operations' if field == 'operations' else 'column names'}, not one string"
                )
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "columns_changed", tuple(self.columns_changed))
        if self.primary_key is not None:
            object.__setattr__(self, "primary_key", tuple(self.primary_key))
        if self.delivery not in DELIVERY_MODES:
            raise TriggerDefinitionError(
                f"delivery {self.delivery!r} is not available (choose from {DELIVERY_MODES})"
            )
        text = trigger_text(self.delivery, self.template_version)  # raises when there is none
        operations = tuple(o.upper() for o in self.operations)
        unknown = [o for o in operations if o not in TRIGGER_EVENTS]
        if unknown or not operations or len(set(operations)) != len(operations):
            raise TriggerDefinitionError(
                f"operations {self.operations!r}: name each of {TRIGGER_EVENTS} at most once"
            )
        object.__setattr__(self, "operations", tuple(o for o in TRIGGER_EVENTS if o in operations))
        missing = [o for o in self.operations if o not in text.operations]
        if missing or ((self.when is not None or self.columns_changed) and not text.changes):
            best = BEST_TEXT[self.delivery]
            raise TriggerDefinitionError(
                f"trigger on {self.table!r}: {self.delivery} text {self.template_version} has "
                f"no {', '.join(missing) or 'conditions'} (text {best} has: use "
                "LambdaTrigger.declare, or template_version=" + f"{best})"
            )
        if self.columns_changed and "UPDATE" not in self.operations:
            raise TriggerDefinitionError(
                f"trigger on {self.table!r}: columns_changed applies to UPDATE, not declared"
            )
        if self.when is not None and not self.when.strip():
            raise TriggerDefinitionError(f"trigger on {self.table!r}: when= is empty")
        for name in self.trigger_names.values():
            if len(name) > MAX_IDENTIFIER:
                raise TriggerDefinitionError(
                    f"trigger name {name!r} is longer than {MAX_IDENTIFIER} "
                    "characters: give the trigger a shorter name="
                )

    @property
    def trigger_names(self) -> dict[str, str]:
        """``{operation: name of its MySQL trigger}``."""
        if self.name and len(self.operations) == 1:
            return {self.operations[0]: self.name}
        return {
            operation: f"{self.name}_{NAME_CODES[operation]}"
            if self.name
            else f"{self.table}_{NAME_CODES[operation]}_{self.function}"
            for operation in self.operations
        }

    @property
    def trigger_name(self) -> str:
        """The trigger's name; for several operations, their names joined by ``, ``."""
        return ", ".join(self.trigger_names.values())

    def for_operation(self, operation: str) -> LambdaTrigger:
        """The declaration of this one's ``operation`` trigger alone (its name explicit
        unless it is the default one)."""
        name = self.trigger_names[operation]
        default = f"{self.table}_{NAME_CODES[operation]}_{self.function}"
        return replace(
            self,
            operations=(operation,),
            name=None if name == default else name,
            columns_changed=self.columns_changed if operation == "UPDATE" else (),
        )

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
        operations: Sequence[str] = ("INSERT",),
        when: str | None = None,
        columns_changed: Sequence[str] = (),
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
            operations=tuple(operations),
            when=when,
            columns_changed=tuple(columns_changed),
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


TriggerForm = "LambdaTrigger | InstalledText | tuple[LambdaTrigger | InstalledText, ...]"


def units(form) -> list[LambdaTrigger | InstalledText]:
    """The MySQL triggers a form stands for, one per operation: a declaration's
    (:meth:`LambdaTrigger.for_operation`), an installed text, or each of a tuple's."""
    if isinstance(form, tuple):
        return [unit for item in form for unit in units(item)]
    if isinstance(form, InstalledText):
        return [form]
    return [form.for_operation(operation) for operation in form.operations]


def form_table(form) -> str:
    tables = {unit.table for unit in units(form)}
    if len(tables) != 1:
        raise TriggerDefinitionError(f"triggers of one declaration on several tables: {tables}")
    return tables.pop()


def form_names(form) -> list[str]:
    """The names of the MySQL triggers ``form`` installs."""
    return [unit.trigger_name for unit in units(form)]


def create_statement_for(connection, trigger: LambdaTrigger | InstalledText) -> str:
    """Render ``trigger``'s CREATE TRIGGER (one operation) against the live table and the
    resolved ARN."""
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
        if trigger_text(trigger.delivery, trigger.template_version).changes:
            require_ordering_key(connection, trigger.table)
    return render_statement(trigger, column_types, primary_key, resolve_function_arn)


def require_ordering_key(connection, table: str) -> None:
    """Outbox text 4 writes the row's ordering key: revision 0008's column must be there."""
    (has,) = sql.render("outbox/has_ordering_key.sql")
    ((count,),) = connection.exec_driver_sql(has).fetchall()
    if not count:
        raise TriggerDefinitionError(
            f"the trigger on {table!r} writes the outbox's ordering_key, which this database "
            "does not have: run revision 0008 (sql/outbox/add_ordering_key.sql) first"
        )


def render_statement(
    trigger: LambdaTrigger,
    column_types: Mapping[str, str],
    primary_key: Sequence[str],
    resolve: Callable[[str], str],
) -> str:
    """``trigger``'s CREATE TRIGGER (a declaration of one operation: see
    :func:`render_statements`) for a table of ``column_types`` whose primary key is
    ``primary_key`` (used when the trigger names none), each catalog function made an ARN
    by ``resolve`` (pure: the live and the offline renderings, and the pinned ones)."""
    if len(trigger.operations) != 1:
        raise TriggerDefinitionError(
            f"{trigger.trigger_name}: one statement per operation (render_statements)"
        )
    primary_key = trigger.primary_key or tuple(primary_key)
    text = trigger_text(trigger.delivery, trigger.template_version)
    arn = resolve(trigger.function)
    if text.changes:
        (operation,) = trigger.operations
        spec = ChangeTrigger(
            trigger.trigger_name,
            trigger.table,
            operation,
            trigger.delivery,
            trigger.template_version,
            trigger.columns,
            tuple(primary_key),
            trigger.when,
            trigger.columns_changed,
        )
        relay = resolve(RELAY_FUNCTION) if trigger.delivery == "outbox" else None
        try:
            return change_trigger_statement(
                spec, column_types, arn, relay, DOORBELL_INTERVAL_SECONDS
            )
        except SqlTemplateError as error:
            raise TriggerDefinitionError(f"{trigger.trigger_name}: {error}") from None
    payload = payload_expression(
        trigger.table, trigger.columns, primary_key, column_types, trigger.delivery, text.event_id
    )
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


def render_statements(
    trigger: LambdaTrigger,
    column_types: Mapping[str, str],
    primary_key: Sequence[str],
    resolve: Callable[[str], str],
) -> list[str]:
    """The CREATE TRIGGER of each of ``trigger``'s operations (see :func:`render_statement`)."""
    return [render_statement(unit, column_types, primary_key, resolve) for unit in units(trigger)]


def _create_statements(operations: Operations, form) -> list[str]:
    """Online: against the live table and the deployed function. Offline (``--sql``): the
    tables this run created and the ARNs in the environment (:mod:`migrations.offline`)."""
    statements = []
    for unit in units(form):
        if not operations.migration_context.as_sql:
            statements.append(create_statement_for(operations.get_bind(), unit))
        elif isinstance(unit, InstalledText):
            statements.append(create_statement_for(None, unit))
        else:
            column_types, primary_key = offline_table(operations, unit.table)
            statements.append(render_statement(unit, column_types, primary_key, resolve_offline))
    return statements


def _execute(operations: Operations, statements: list[str], form=None, undo=()) -> None:
    if operations.migration_context.as_sql:
        emit(operations, statements)
    else:
        _run(operations.get_bind(), statements, form, undo)


def _run(connection, statements: list[str], form=None, undo=()) -> None:
    """Run ``statements``; when one fails, run ``undo`` (what puts back the triggers the
    failed operation took away: DDL is not undone by a rollback) and say whose trigger it was."""
    cursor = connection.connection.cursor()
    for done, statement in enumerate(statements):
        # Straight to the DB-API cursor: no parameters, so '%' and ':' in the SQL stay as written.
        try:
            cursor.execute(statement)
        except Exception as error:
            for step in undo(done) if callable(undo) else undo:
                cursor.execute(step)
            if form is None:
                raise
            # A condition the server refuses (bad SQL, an unknown function): say whose it is.
            raise TriggerDefinitionError(
                f"creating trigger {', '.join(form_names(form))} failed: {error} "
                f"(declared: {describe(form)})"
            ) from error


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

    def __init__(self, trigger, replaces) -> None:
        # Either may be a declaration, an installed text, or a tuple of them (the triggers
        # of several operations, installed otherwise than one declaration says).
        if form_table(trigger) != form_table(replaces):
            raise TriggerDefinitionError(
                f"replace_lambda_trigger works on one table; got {form_table(replaces)!r} -> "
                f"{form_table(trigger)!r} (drop one and create the other instead)"
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


def describe(trigger) -> str:
    """``orders: outbox text 3 -> notify (id, amount)``, or ``orders: changed by hand``;
    with its operations and conditions when it has any but INSERT."""
    if isinstance(trigger, tuple):
        return "; ".join(describe(item) for item in trigger)
    if isinstance(trigger, InstalledText):
        return f"{trigger.table}: {trigger.timing} {trigger.event}, a text no declaration renders"
    key = f", primary key ({', '.join(trigger.primary_key)})" if trigger.primary_key else ""
    on = "" if trigger.operations == ("INSERT",) else f" on {'/'.join(trigger.operations)}"
    when = f", when {trigger.when.strip()}" if trigger.when else ""
    changed = (
        f", if changed: {', '.join(trigger.columns_changed)}" if trigger.columns_changed else ""
    )
    return (
        f"{trigger.table}: {trigger.delivery} text {trigger.template_version}{on} -> "
        f"{trigger.function} ({', '.join(trigger.columns)}){key}{when}{changed}"
    )


@Operations.implementation_for(CreateLambdaTriggerOp)
def _create_lambda_trigger(operations: Operations, operation: CreateLambdaTriggerOp) -> None:
    names = form_names(operation.trigger)
    statements = _create_statements(operations, operation.trigger)

    def undo(done: int) -> list[str]:
        # A trigger of several operations is several statements: one failing drops those made.
        return [statement for name in names[:done] for statement in drop_trigger_statements(name)]

    _execute(operations, statements, operation.trigger, undo)


@Operations.implementation_for(DropLambdaTriggerOp)
def _drop_lambda_trigger(operations: Operations, operation: DropLambdaTriggerOp) -> None:
    names = form_names(operation.trigger)
    statements = [statement for name in names for statement in drop_trigger_statements(name)]
    _execute(operations, statements)


@Operations.implementation_for(ReplaceLambdaTriggerOp)
def _replace_lambda_trigger(operations: Operations, operation: ReplaceLambdaTriggerOp) -> None:
    creates = _create_statements(operations, operation.trigger)
    undo: list[str] = []
    if not operations.migration_context.as_sql:
        # A new trigger the server refuses puts the old ones back, still under the lock.
        new_names = form_names(operation.trigger)
        undo = [
            *(statement for name in new_names for statement in drop_trigger_statements(name)),
            *_create_statements(operations, operation.replaces),
            *sql.render("triggers/unlock_tables.sql"),
        ]
    _execute(
        operations,
        replace_triggers_statements(
            form_table(operation.trigger), form_names(operation.replaces), creates
        ),
        operation.trigger,
        undo,
    )
