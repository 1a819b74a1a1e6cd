"""Offline mode (``alembic upgrade head --sql``): the triggers' SQL written into the script
for a DBA to review, rather than run.

Offline there is no database and no Lambda to ask, so:

* **ARNs** come from ``AURORA_EVENTS_FUNCTION_ARN_<NAME>`` (or a full ARN in the revision);
  one unset is an error naming the variable (the relay's too, for an outbox trigger);
* **column types and primary keys** come from the tables the same offline run created or
  changed before the trigger: ``op.create_table``, ``op.add_column``, ``op.alter_column``
  (a new type), ``op.drop_column``, ``op.rename_table``, ``op.drop_table`` are recorded as
  they are written out. A trigger on a table the run did not create with those operations
  (created by raw SQL, or before the run's first revision: ``upgrade 0005:head --sql``) is
  an error naming the table: run the script from base, or online;
* a trigger with a compound body (``BEGIN ... END``, holding ``;``) is written between
  ``DELIMITER $$`` lines, as the ``mysql`` client reads it.

The recording wraps Alembic's own implementations of those operations (``replace=True``)
and does nothing online, where the live table is read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from alembic.operations import Operations, ops, toimpl
from sqlalchemy.dialects import mysql

from migrations.function_arns import FunctionArn, override_variable
from migrations.row_event_sql import TriggerDefinitionError

_TABLES = "aurora_events_offline_tables"
# SQLAlchemy's names for what information_schema.COLUMNS.DATA_TYPE calls otherwise.
_DATA_TYPE_ALIASES = {
    "integer": "int",
    "numeric": "decimal",
    "dec": "decimal",
    "fixed": "decimal",
    "boolean": "tinyint",
    "bool": "tinyint",
    "real": "double",
}


class OfflineRenderingError(TriggerDefinitionError):
    """A trigger cannot be written into an offline script; the message says what is missing."""


def data_type(sa_type) -> str:
    """The DATA_TYPE the server will report for a column of ``sa_type`` (``varchar``)."""
    compiled = sa_type.compile(dialect=mysql.dialect()).split("(")[0].split()[0].lower()
    return _DATA_TYPE_ALIASES.get(compiled, compiled)


def _tables(operations: Operations) -> dict[str, dict]:
    return operations.migration_context.opts.setdefault(_TABLES, {})


def offline_table(operations: Operations, table: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """``(column types, primary key)`` of ``table`` as this offline run left it."""
    found = _tables(operations).get(table)
    if found is None:
        raise OfflineRenderingError(
            f"offline (--sql), the columns of table {table!r} are known only when the same "
            "run created it with op.create_table (and changed it with op.add_column & co.); "
            "run the script from base (alembic upgrade base:head --sql), or run online"
        )
    return dict(found["columns"]), tuple(found["primary_key"])


def resolve_offline(function: str, environ: Mapping[str, str] | None = None) -> str:
    """The ARN a trigger for ``function`` calls, from the environment alone."""
    environ = os.environ if environ is None else environ
    variable = override_variable(function)
    candidate = environ.get(variable) or (function if function.startswith("arn:") else None)
    if not candidate:
        raise OfflineRenderingError(
            f"offline (--sql) mode cannot ask Lambda for the ARN of {function!r}: set "
            f"{variable} to the ARN its triggers call (e.g. …:function:<prefix>-{function}:live)"
        )
    return FunctionArn.parse(candidate).arn


def emit(operations: Operations, statements: list[str]) -> None:
    """Write ``statements`` into the offline script, a compound one between DELIMITER lines."""
    output = operations.migration_context.impl.static_output
    for statement in statements:
        if ";" in statement:
            if "$$" in statement:
                raise OfflineRenderingError("a statement holding '$$' cannot be delimited by it")
            output(f"DELIMITER $$\n{statement} $$\nDELIMITER ;")
        else:
            output(f"{statement};")


# -- recording the tables an offline run creates ------------------------------------------


def _record(operations: Operations, change) -> None:
    if operations.migration_context.as_sql:
        change(_tables(operations))


@Operations.implementation_for(ops.CreateTableOp, replace=True)
def _create_table(operations, operation: ops.CreateTableOp):
    def change(tables):
        table = operation.to_table(operations.migration_context)
        tables[operation.table_name] = {
            "columns": {c.name: data_type(c.type) for c in table.columns},
            "primary_key": [c.name for c in table.primary_key.columns],
        }

    _record(operations, change)
    return toimpl.create_table(operations, operation)


@Operations.implementation_for(ops.DropTableOp, replace=True)
def _drop_table(operations, operation: ops.DropTableOp):
    _record(operations, lambda tables: tables.pop(operation.table_name, None))
    return toimpl.drop_table(operations, operation)


@Operations.implementation_for(ops.RenameTableOp, replace=True)
def _rename_table(operations, operation: ops.RenameTableOp):
    def change(tables):
        if operation.table_name in tables:
            tables[operation.new_table_name] = tables.pop(operation.table_name)

    _record(operations, change)
    return toimpl.rename_table(operations, operation)


@Operations.implementation_for(ops.AddColumnOp, replace=True)
def _add_column(operations, operation: ops.AddColumnOp):
    def change(tables):
        if operation.table_name in tables:
            column = operation.column
            tables[operation.table_name]["columns"][column.name] = data_type(column.type)

    _record(operations, change)
    return toimpl.add_column(operations, operation)


@Operations.implementation_for(ops.DropColumnOp, replace=True)
def _drop_column(operations, operation: ops.DropColumnOp):
    def change(tables):
        if operation.table_name in tables:
            tables[operation.table_name]["columns"].pop(operation.column_name, None)

    _record(operations, change)
    return toimpl.drop_column(operations, operation)


@Operations.implementation_for(ops.AlterColumnOp, replace=True)
def _alter_column(operations, operation: ops.AlterColumnOp):
    def change(tables):
        table = tables.get(operation.table_name)
        if table is None or operation.column_name not in table["columns"]:
            return
        columns = table["columns"]
        if operation.modify_type is not None:
            columns[operation.column_name] = data_type(operation.modify_type)
        if operation.modify_name:
            # Keep the column's place: the payload's order is the declaration's anyway.
            columns[operation.modify_name] = columns.pop(operation.column_name)

    _record(operations, change)
    return toimpl.alter_column(operations, operation)
