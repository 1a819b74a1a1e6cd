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

import json
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
    """One version of a trigger's SQL text: its file (the INSERT trigger's), what the
    event's id is in it, and, from outbox text 4 and direct text 2 on, the files of its
    UPDATE and DELETE triggers (a text with them also takes conditions and, in the outbox,
    writes the row's ordering key)."""

    file: str
    event_id: str  # the SQL the payload's event_id is (row_event_payload.sql's ${event_id})
    update_file: str | None = None
    delete_file: str | None = None

    @property
    def operations(self) -> tuple[str, ...]:
        """The operations this text has a trigger for."""
        others = (("UPDATE", self.update_file), ("DELETE", self.delete_file))
        return ("INSERT", *(operation for operation, file in others if file))

    @property
    def changes(self) -> bool:
        """A text of change events: conditions, UPDATE/DELETE, ordering key (outbox)."""
        return self.update_file is not None

    def file_for(self, operation: str) -> str:
        return {"INSERT": self.file, "UPDATE": self.update_file, "DELETE": self.delete_file}[
            operation
        ]


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
    # Change events (issue 19): INSERT, UPDATE and DELETE triggers, conditions, and (outbox)
    # the row's ordering key (revision 0009).
    ("direct", 2): TriggerText(
        "triggers/direct_v2_insert.sql",
        "UUID()",
        "triggers/direct_v2_update.sql",
        "triggers/direct_v2_delete.sql",
    ),
    ("outbox", 4): TriggerText(
        "triggers/outbox_v4_insert.sql",
        "new_event_id",
        "triggers/outbox_v4_update.sql",
        "triggers/outbox_v4_delete.sql",
    ),
}
# The id of the second event of an UPDATE that moves a row to a new primary key.
MOVED_EVENT_ID = {"direct": "UUID()", "outbox": "moved_event_id"}


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


def value_expression(column: str, data_type: str, image: str = "NEW") -> str:
    """The SQL that puts ``NEW.<column>`` (``image``: ``OLD`` for the row before an UPDATE
    or a DELETE) into the event in its documented format."""
    template = VALUE_FORMATS.get(data_type.lower())
    if template is None:
        raise TriggerDefinitionError(
            f"column {column!r} has type {data_type!r}, which row events do not carry; "
            "leave it out of the trigger's columns"
        )
    return template.format(value=f"{image}.{quote_identifier(column)}")


def json_object_arguments(
    columns: Sequence[str], column_types: Mapping[str, str], image: str = "NEW"
) -> str:
    """``'a', NEW.`a`, 'b', CAST(NEW.`b` AS CHAR)`` for JSON_OBJECT."""
    arguments = []
    for column in columns:
        # The value first: a name that is no plain identifier is refused as such.
        value = value_expression(column, column_types[column], image)
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


def replace_triggers_statements(
    table: str, old_triggers: Sequence[str], create_statements: Sequence[str]
) -> list[str]:
    """Drop ``old_triggers`` and run ``create_statements`` with the table write-locked
    (one declaration's triggers, one per operation; see :func:`replace_trigger_statements`)."""
    (lock, *_) = sql.render(
        "triggers/lock_and_drop_trigger.sql",
        table=quote_identifier(table),
        old_trigger=quote_identifier(old_triggers[0] if old_triggers else "none"),
    )
    drops = [s for name in old_triggers for s in drop_trigger_statements(name)]
    return [lock, *drops, *create_statements, *sql.render("triggers/unlock_tables.sql")]


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


# -- change events (outbox text 4, direct text 2) -------------------------------------------

IMAGES = {"INSERT": ("NEW",), "UPDATE": ("NEW", "OLD"), "DELETE": ("OLD",)}


def check_condition(table: str, operation: str, when: str, column_types: Mapping[str, str]):
    """Raise unless ``when`` is one SQL expression whose ``NEW.c``/``OLD.c`` name columns
    of the table and rows the operation has (no OLD on INSERT, no NEW on DELETE). The
    server checks the rest when the trigger is created."""
    from migrations.trigger_reader import identifier_value, sql_tokens

    tokens = sql_tokens(when)
    if not tokens:
        raise TriggerDefinitionError(f"the condition on {table!r} is empty")
    depth = 0
    for index, token in enumerate(tokens):
        if token == ("other", ";"):
            raise TriggerDefinitionError(f"the condition on {table!r} holds ';': one expression")
        depth += {("other", "("): 1, ("other", ")"): -1}.get(token, 0)
        if depth < 0:
            break
        image = identifier_value(token)
        if image in ("new", "old") and tokens[index + 1 : index + 2] == [("other", ".")]:
            column = identifier_value(tokens[index + 2]) if index + 2 < len(tokens) else None
            if image.upper() not in IMAGES[operation]:
                raise TriggerDefinitionError(
                    f"the condition on {table!r} reads {image.upper()}, which the {operation} "
                    f"trigger does not have (it has: {', '.join(IMAGES[operation])})"
                )
            if column not in {name.lower() for name in column_types}:
                raise TriggerDefinitionError(
                    f"the condition on {table!r} reads {image.upper()}.{column}, a column the "
                    f"table does not have (it has: {', '.join(column_types)})"
                )
    if depth != 0:
        raise TriggerDefinitionError(f"the condition on {table!r} has unbalanced parentheses")


def same_values_expression(columns: Sequence[str]) -> str:
    """``NEW.`a` <=> OLD.`a` AND ...``: true when none of ``columns`` changed (NULL-safe)."""
    return " AND ".join(f"NEW.{quote_identifier(c)} <=> OLD.{quote_identifier(c)}" for c in columns)


def condition_expression(
    operation: str, columns: Sequence[str], columns_changed: Sequence[str], when: str | None
) -> str:
    """The trigger's condition: for UPDATE, some of ``columns_changed`` (default: the
    carried ``columns``) changed; and ``when``, if any; ``1`` when there is nothing to check."""
    parts = []
    if operation == "UPDATE":
        parts.append(f"NOT ({same_values_expression(columns_changed or columns)})")
    if when:
        parts.append(f"({when.strip()})")
    return " AND ".join(parts) or "1"


def changed_expression(columns: Sequence[str]) -> str:
    """The JSON array of the names of the ``columns`` an UPDATE changed
    (``sql/triggers/row_event_changed.sql``)."""
    names = ", ".join(
        f"IF(NEW.{quote_identifier(c)} <=> OLD.{quote_identifier(c)}, NULL, "
        f"{quote_string(json.dumps(c))})"
        for c in columns
    )
    (expression,) = sql.render("triggers/row_event_changed.sql", names=names)
    return expression


def _check_declaration(table, columns, primary_key, column_types) -> None:
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


def image_payload_expression(
    operation: str,
    table: str,
    columns: Sequence[str],
    primary_key: Sequence[str],
    column_types: Mapping[str, str],
    delivery: str,
    event_id: str,
) -> str:
    """The event of ``operation`` (INSERT: ``row_event_payload.sql``, schema 1; UPDATE,
    DELETE: ``row_update_payload.sql``, ``row_delete_payload.sql``, schema 2)."""
    if operation == "INSERT":
        return payload_expression(table, columns, primary_key, column_types, delivery, event_id)
    _check_declaration(table, columns, primary_key, column_types)
    key_image = "NEW" if operation == "UPDATE" else "OLD"
    values = {
        "table_name": quote_string(table),
        "delivery": quote_string(delivery),
        "event_id": event_id,
        "primary_key": json_object_arguments(primary_key, column_types, key_image),
        "before": json_object_arguments(columns, column_types, "OLD"),
    }
    if operation == "DELETE":
        (expression,) = sql.render("triggers/row_delete_payload.sql", **values)
        return expression
    values["after"] = json_object_arguments(columns, column_types, "NEW")
    values["changed"] = changed_expression(columns)
    (expression,) = sql.render("triggers/row_update_payload.sql", **values)
    return expression


@dataclass(frozen=True)
class ChangeTrigger:
    """What one trigger of a change-event text is made of (rendered by
    :func:`change_trigger_statement`)."""

    trigger: str
    table: str
    operation: str  # INSERT | UPDATE | DELETE
    delivery: str
    template_version: int
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    when: str | None = None
    columns_changed: tuple[str, ...] = ()


def change_trigger_statement(
    spec: ChangeTrigger,
    column_types: Mapping[str, str],
    function_arn: str,
    relay_arn: str | None,
    doorbell_interval_seconds: float,
) -> str:
    """``CREATE TRIGGER`` of outbox text 4 or direct text 2 for ``spec.operation``."""
    from migrations.ordering_key import ordering_key_expression

    text = trigger_text(spec.delivery, spec.template_version)
    if spec.operation not in text.operations:
        raise TriggerDefinitionError(
            f"{spec.delivery} text {spec.template_version} has no {spec.operation} trigger "
            f"(it has: {', '.join(text.operations)})"
        )
    _check_declaration(spec.table, spec.columns, spec.primary_key, column_types)
    if spec.columns_changed:
        check_columns(spec.table, spec.columns_changed, column_types, "the columns_changed")
    if spec.when is not None:
        check_condition(spec.table, spec.operation, spec.when, column_types)

    def payload(operation: str, event_id: str) -> str:
        return image_payload_expression(
            operation,
            spec.table,
            spec.columns,
            spec.primary_key,
            column_types,
            spec.delivery,
            event_id,
        )

    def key(image: str) -> str:
        return ordering_key_expression(
            spec.table, [value_expression(c, column_types[c], image) for c in spec.primary_key]
        )

    values = {
        "trigger": quote_identifier(spec.trigger),
        "table": quote_identifier(spec.table),
        "function_arn": quote_string(function_arn),
        "condition": condition_expression(
            spec.operation, spec.columns, spec.columns_changed, spec.when
        ),
        "payload": payload(spec.operation, text.event_id),
    }
    if spec.operation == "UPDATE":
        values["same_key"] = same_values_expression(spec.primary_key)
        values["delete_payload"] = payload("DELETE", text.event_id)
        values["insert_payload"] = payload("INSERT", MOVED_EVENT_ID[spec.delivery])
    if spec.delivery == "outbox":
        if relay_arn is None:
            raise TriggerDefinitionError("an outbox trigger needs the relay's ARN")
        values["relay_arn"] = quote_string(relay_arn)
        values["doorbell_interval_us"] = str(int(doorbell_interval_seconds * 1_000_000))
        values["ordering_key"] = key("OLD" if spec.operation == "DELETE" else "NEW")
        if spec.operation == "UPDATE":
            values["old_ordering_key"] = key("OLD")
    (statement,) = sql.render(text.file_for(spec.operation), **values)
    return statement
