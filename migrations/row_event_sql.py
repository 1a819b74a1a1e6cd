"""Rendering a Lambda trigger's SQL from its definition and the table's columns (pure).

The statements themselves live in ``sql/triggers/``; this module fills them in. Each
column's value is written in one explicit format, the same on MySQL 8 and MariaDB
(the two differ when left to JSON_OBJECT, e.g. for binary and DECIMAL values):

=====================================  ================================================
column type                            in the event
=====================================  ================================================
integers, FLOAT, DOUBLE, YEAR          JSON number
DECIMAL                                JSON string, exact (``"12.50"``)
CHAR, VARCHAR, TEXT, ENUM, SET         JSON string
JSON                                   the JSON value itself
DATETIME, TIMESTAMP                    ``"YYYY-MM-DDTHH:MM:SS.ffffff"``, no zone (as stored/shown
                                       in the session's time zone)
DATE                                   ``"YYYY-MM-DD"``
TIME                                   ``"HH:MM:SS[.ffffff]"``
BINARY, VARBINARY, BLOB                base64 string, no line breaks
BIT                                    JSON number
NULL (any type)                        JSON null
=====================================  ================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sql
from sql import quote_identifier, quote_string

_PLAIN = "{value}"
VALUE_FORMATS: dict[str, str] = {
    **dict.fromkeys(
        (
            "tinyint",
            "smallint",
            "mediumint",
            "int",
            "integer",
            "bigint",
            "float",
            "double",
            "real",
            "year",
        ),
        _PLAIN,
    ),
    **dict.fromkeys(
        ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json"),
        _PLAIN,
    ),
    "decimal": "CAST({value} AS CHAR)",
    "datetime": "DATE_FORMAT({value}, '%Y-%m-%dT%H:%i:%s.%f')",
    "timestamp": "DATE_FORMAT({value}, '%Y-%m-%dT%H:%i:%s.%f')",
    "date": "DATE_FORMAT({value}, '%Y-%m-%d')",
    "time": "CAST({value} AS CHAR)",
    "bit": "CAST({value} AS UNSIGNED)",
    **dict.fromkeys(
        ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"),
        "REPLACE(TO_BASE64({value}), '\\n', '')",
    ),
    **dict.fromkeys(("uuid", "inet4", "inet6"), "CAST({value} AS CHAR)"),
}


class TriggerDefinitionError(ValueError):
    """A Lambda trigger cannot be built as defined; the message names what is wrong."""


@dataclass(frozen=True)
class TriggerText:
    """One version of a trigger's SQL text: its file, and what the event's id is in it."""

    file: str
    event_id: str  # the SQL the payload's event_id is (row_event_payload.sql's ${event_id})


# Each (delivery, template version) names one file. A landed revision renders the text its
# triggers name when it runs, so a file, once landed, never changes: a new text is a new
# file and a new version, installed by a new revision (replace_lambda_trigger).
TRIGGER_TEXTS: dict[tuple[str, int], TriggerText] = {
    ("direct", 1): TriggerText("triggers/lambda_after_insert.sql", "UUID()"),
    ("outbox", 1): TriggerText("triggers/outbox_after_insert.sql", "UUID()"),
    # The id made once into a variable, not read back from the event's JSON (revision 0005).
    ("outbox", 2): TriggerText("triggers/outbox_after_insert_v2.sql", "new_event_id"),
    # Text 2's row and event; one doorbell per interval for all connections (revision 0006).
    ("outbox", 3): TriggerText("triggers/outbox_after_insert_v3.sql", "new_event_id"),
}


def trigger_text(delivery: str, template_version: int) -> TriggerText:
    """The text of ``delivery``'s trigger in ``template_version``; a clear error if none."""
    text = TRIGGER_TEXTS.get((delivery, template_version))
    if text is None:
        versions = sorted(version for mode, version in TRIGGER_TEXTS if mode == delivery)
        raise TriggerDefinitionError(
            f"delivery {delivery!r} has no trigger text version {template_version!r} "
            f"(it has: {', '.join(map(str, versions))})"
        )
    return text


def value_expression(column: str, data_type: str) -> str:
    """The SQL that puts ``NEW.<column>`` into the event in its documented format."""
    template = VALUE_FORMATS.get(data_type.lower())
    if template is None:
        raise TriggerDefinitionError(
            f"column {column!r} has type {data_type!r}, which row events do not carry; "
            "leave it out of the trigger's columns"
        )
    return template.format(value=f"NEW.{quote_identifier(column)}")


def json_object_arguments(columns: Sequence[str], column_types: Mapping[str, str]) -> str:
    """``'a', NEW.`a`, 'b', CAST(NEW.`b` AS CHAR)`` for JSON_OBJECT."""
    arguments = []
    for column in columns:
        # The value first: a name that is no plain identifier is refused as such.
        value = value_expression(column, column_types[column])
        arguments.append(f"{quote_string(column)}, {value}")
    return ", ".join(arguments)


def check_columns(
    table: str, columns: Sequence[str], column_types: Mapping[str, str], what: str
) -> None:
    """Raise unless every one of ``columns`` exists in the table."""
    if not column_types:
        raise TriggerDefinitionError(f"table {table!r} does not exist in this database")
    missing = [column for column in columns if column not in column_types]
    if missing:
        raise TriggerDefinitionError(
            f"{what} of table {table!r} name columns it does not have: {', '.join(missing)} "
            f"(it has: {', '.join(column_types)})"
        )


def payload_expression(
    table: str,
    columns: Sequence[str],
    primary_key: Sequence[str],
    column_types: Mapping[str, str],
    delivery: str,
    event_id: str = "UUID()",
) -> str:
    """The JSON_OBJECT expression of ``sql/triggers/row_event_payload.sql``, filled in;
    ``event_id`` is the SQL of the event's id (:attr:`TriggerText.event_id`)."""
    if not columns:
        raise TriggerDefinitionError(f"a trigger on {table!r} needs at least one column")
    if not column_types:
        raise TriggerDefinitionError(f"table {table!r} does not exist in this database")
    if not primary_key:
        raise TriggerDefinitionError(
            f"table {table!r} has no primary key; row events identify rows by it"
        )
    check_columns(table, columns, column_types, "the columns")
    check_columns(table, primary_key, column_types, "the primary key")
    (expression,) = sql.render(
        "triggers/row_event_payload.sql",
        table_name=quote_string(table),
        delivery=quote_string(delivery),
        event_id=event_id,
        primary_key=json_object_arguments(primary_key, column_types),
        row=json_object_arguments(columns, column_types),
    )
    return expression


def create_trigger_statement(trigger: str, table: str, function_arn: str, payload: str) -> str:
    """``CREATE TRIGGER ... lambda_async(arn, payload)`` as one statement."""
    (statement,) = sql.render(
        trigger_text("direct", 1).file,
        trigger=quote_identifier(trigger),
        table=quote_identifier(table),
        function_arn=quote_string(function_arn),
        payload=payload,
    )
    return statement


def drop_trigger_statements(trigger: str) -> list[str]:
    return sql.render("triggers/drop_trigger.sql", trigger=quote_identifier(trigger))


def replace_trigger_statements(table: str, old_trigger: str, create_statement: str) -> list[str]:
    """Drop ``old_trigger`` and run ``create_statement`` with the table write-locked.

    The CREATE TRIGGER goes between two rendered files, not into a template: a compound
    trigger body holds ``;`` and would not be a single value."""
    lock_and_drop = sql.render(
        "triggers/lock_and_drop_trigger.sql",
        table=quote_identifier(table),
        old_trigger=quote_identifier(old_trigger),
    )
    return [*lock_and_drop, create_statement, *sql.render("triggers/unlock_tables.sql")]


def outbox_trigger_statement(
    trigger: str,
    table: str,
    function_arn: str,
    relay_arn: str,
    payload: str,
    doorbell_interval_seconds: float,
    template_version: int = 1,
) -> str:
    """``CREATE TRIGGER`` whose body writes the event to the outbox and rings the relay;
    ``payload`` rendered with the version's :attr:`TriggerText.event_id`."""
    (statement,) = sql.render(
        trigger_text("outbox", template_version).file,
        trigger=quote_identifier(trigger),
        table=quote_identifier(table),
        function_arn=quote_string(function_arn),
        relay_arn=quote_string(relay_arn),
        payload=payload,
        doorbell_interval_us=str(int(doorbell_interval_seconds * 1_000_000)),
    )
    return statement


def create_outbox_statements() -> list[str]:
    """The outbox table (``sql/outbox/create_outbox_table.sql``)."""
    return sql.render("outbox/create_outbox_table.sql")


def drop_outbox_statements() -> list[str]:
    return sql.render("outbox/drop_outbox_table.sql")
