"""The triggers a schema holds, read back from the server into the objects that made them.

One reader for the migrations' comparator and the doctor. A trigger of this project calls
``lambda_async``/``lambda_sync`` with the function's ARN as a string literal
(``sql/triggers/lambda_after_insert.sql``: delivery ``direct``), or writes its event into
the outbox with the target's ARN as a literal and rings the relay with ``lambda_async``
(``sql/triggers/outbox_after_insert.sql`` and its texts 2 and 3: delivery ``outbox``), or
a trigger of change events (outbox text 4, direct text 2: INSERT, UPDATE or DELETE, with a
condition in ``SET aurora_events_fire = ...``).
Such a trigger is *managed*: the comparator may replace or drop it. Any other trigger is
read (the doctor lists nothing of it) and never touched.

What a managed trigger's body means is found without parsing SQL grammar: the body is
scanned as SQL tokens (strings, quoted identifiers and comments kept whole, so a column
called ``lambda_async`` or an ARN in a comment is not taken for a call); the ARN literals
and the payload's column keys (``'primary_key'`` and ``'row'``) are taken from it; then each
of the delivery's texts (``row_event_sql.TRIGGER_TEXTS``) is rendered again with those
ARNs, columns and the live table's column types, and compared with the body token for
token. The one that matches gives the declaration (:class:`~migrations.lambda_trigger.
LambdaTrigger`: delivery, text version, columns, primary key, function by catalog name;
for a text of change events the operation and the condition, read from the body and
checked the same way). Each trigger is one operation; :func:`from_database` groups the
triggers one declaration of several operations makes.
No match: a project trigger whose text was changed by hand, or whose table changed under
it: :attr:`InstalledTrigger.declaration` is None, and the comparator reports it changed.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import sql
from functions.common.outbox_table import OUTBOX_TABLE
from migrations.function_arns import FunctionArn, catalog_function
from migrations.row_event_sql import TRIGGER_TEXTS, TriggerDefinitionError

LAMBDA_CALLS = ("lambda_async", "lambda_sync")

_TOKEN = re.compile(
    r"""
    (?P<comment>--[^\n]*|\#[^\n]*|/\*.*?\*/)
    |(?P<string>'(?:[^'\\]|''|\\.)*'|"(?:[^"\\]|""|\\.)*")
    |(?P<quoted>`(?:[^`]|``)*`)
    |(?P<word>[A-Za-z0-9_$]+)
    |(?P<space>\s+)
    |(?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_FOR_EACH_ROW = [("word", "FOR"), ("word", "EACH"), ("word", "ROW")]


@dataclass(frozen=True)
class TriggerCalls:
    """What a trigger body asks of Lambda."""

    delivery: str  # "direct" (lambda_async per row) or "outbox" (outbox row + doorbell)
    invoked: tuple[str, ...]  # ARNs the body calls lambda_async/lambda_sync with
    outbox_targets: tuple[str, ...]  # ARNs written into the outbox (the relay calls them)
    unreadable_calls: int = 0  # calls whose function is not a literal: cannot be checked


def sql_tokens(body: str) -> list[tuple[str, str]]:
    """``(kind, text)`` of each token of ``body`` but spaces and comments."""
    return [
        (match.lastgroup, match.group())
        for match in _TOKEN.finditer(body)
        if match.lastgroup not in ("space", "comment")
    ]


def string_value(literal: str) -> str:
    """The value of a quoted SQL string literal (``''`` and backslash escapes undone)."""
    quote, inner = literal[0], literal[1:-1]
    inner = inner.replace(quote * 2, quote)
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), inner, flags=re.DOTALL)


def identifier_value(token: tuple[str, str]) -> str | None:
    kind, text = token
    if kind == "word":
        return text.lower()
    if kind == "quoted":
        return text[1:-1].replace("``", "`").lower()
    return None


def trigger_calls(body: str) -> TriggerCalls | None:
    """What the trigger body calls; None for a trigger that neither calls Lambda nor
    writes the outbox (not this project's)."""
    return _calls(sql_tokens(body))


def _calls(tokens: list[tuple[str, str]]) -> TriggerCalls | None:
    invoked: list[str] = []
    call_arguments: set[int] = set()
    unreadable = 0
    writes_outbox = False
    for index, token in enumerate(tokens):
        name = identifier_value(token)
        if name == OUTBOX_TABLE:
            writes_outbox = True
        # lambda_async( ... ), or schema-qualified: mysql.lambda_async( ... )
        if name in LAMBDA_CALLS and tokens[index + 1 : index + 2] == [("other", "(")]:
            argument = tokens[index + 2] if index + 2 < len(tokens) else ("other", "")
            if argument[0] == "string":
                invoked.append(string_value(argument[1]))
                call_arguments.add(index + 2)
            else:
                unreadable += 1
    targets = [
        string_value(text)
        for index, (kind, text) in enumerate(tokens)
        if kind == "string"
        and index not in call_arguments
        and FunctionArn.find(string_value(text)) is not None
    ]
    if not (invoked or unreadable or writes_outbox):
        return None
    return TriggerCalls(
        delivery="outbox" if writes_outbox else "direct",
        invoked=tuple(dict.fromkeys(invoked)),
        outbox_targets=tuple(dict.fromkeys(targets)) if writes_outbox else (),
        unreadable_calls=unreadable,
    )


def payload_keys(tokens: list[tuple[str, str]], field: str) -> tuple[str, ...] | None:
    """The keys of the payload's ``'<field>', JSON_OBJECT('k', v, ...)``: the columns
    a row event carries (``row``) or identifies its row by (``primary_key``); None when
    the body has no such object."""
    literal = ("string", "'" + field.replace("'", "''") + "'")
    for index in range(len(tokens) - 3):
        if tokens[index] != literal or tokens[index + 1] != ("other", ","):
            continue
        if identifier_value(tokens[index + 2]) != "json_object":
            continue
        if tokens[index + 3] != ("other", "("):
            continue
        arguments: list[list[tuple[str, str]]] = [[]]
        depth = 0
        for token in tokens[index + 4 :]:
            if token == ("other", ")") and depth == 0:
                keys = arguments[0::2]
                if any(len(key) != 1 or key[0][0] != "string" for key in keys):
                    return None
                return tuple(string_value(key[0][1]) for key in keys)
            if token == ("other", ","):
                if depth == 0:
                    arguments.append([])
                    continue
            elif token == ("other", "("):
                depth += 1
            elif token == ("other", ")"):
                depth -= 1
            arguments[-1].append(token)
        return None
    return None


def body_tokens(create_statement: str) -> list[tuple[str, str]]:
    """The tokens of a rendered CREATE TRIGGER after ``FOR EACH ROW``: what the server
    keeps as the trigger's ACTION_STATEMENT."""
    tokens = sql_tokens(create_statement)
    for index in range(len(tokens)):
        if [(kind, text.upper()) for kind, text in tokens[index : index + 3]] == _FOR_EACH_ROW:
            return tokens[index + 3 :]
    raise ValueError("not a CREATE TRIGGER statement")


def definer_account(definer: str) -> tuple[str, str]:
    """information_schema's DEFINER (``user@host``, unquoted) as ``(user, host)``."""
    user, _, host = definer.rpartition("@")
    return (user, host) if user else (definer, "%")


@dataclass(frozen=True)
class TableShape:
    """What rendering a trigger needs of its table: column types in order, primary key."""

    column_types: Mapping[str, str]
    primary_key: tuple[str, ...]


@dataclass(frozen=True)
class InstalledTrigger:
    """A trigger as the server holds it, and what it means when it is one of ours."""

    schema: str
    name: str
    table: str
    timing: str  # BEFORE | AFTER
    event: str  # INSERT | UPDATE | DELETE
    definer: tuple[str, str]  # (user, host)
    body: str  # ACTION_STATEMENT, as stored
    calls: TriggerCalls | None  # None: not a trigger of this project (never touched)
    # The declaration whose rendering this body is, token for token (None: no text of
    # this project renders it: changed by hand, or its table changed under it).
    declaration: object | None = None  # LambdaTrigger

    @property
    def managed(self) -> bool:
        return self.calls is not None

    def describe(self, short_name=lambda arn: arn) -> str:
        """``orders_ai_notify on orders: outbox -> notify (doorbell: relay), as 'app'@'%'``;
        ``short_name`` turns an ARN into what to show."""
        calls = self.calls
        shown = ", ".join(short_name(a) for a in calls.outbox_targets or calls.invoked)
        doorbell = (
            f" (doorbell: {', '.join(short_name(a) for a in calls.invoked)})"
            if calls.outbox_targets and calls.invoked
            else ""
        )
        unreadable = (
            f"; {calls.unreadable_calls} call(s) whose function is not a literal, not checked"
            if calls.unreadable_calls
            else ""
        )
        user, host = self.definer
        return (
            f"{self.name} on {self.table}: {calls.delivery} -> {shown or '(none)'}{doorbell}, "
            f"as '{user}'@'{host}'{unreadable}"
        )


def _fetch(connection, name: str, *args) -> list[tuple]:
    """Rows of ``sql/<name>``'s query on a DB-API or a SQLAlchemy connection."""
    dbapi = connection.connection if hasattr(connection, "exec_driver_sql") else connection
    (statement,) = sql.render(name)
    cursor = dbapi.cursor()
    try:
        cursor.execute(statement, args)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def table_shapes(connection, schema: str) -> dict[str, TableShape]:
    """Every table of ``schema``: its columns' types and its primary key."""
    columns: dict[str, dict[str, str]] = {}
    keys: dict[str, list[str]] = {}
    for table, column, data_type in _fetch(connection, "triggers/table_columns.sql", schema):
        columns.setdefault(_text(table), {})[_text(column)] = _text(data_type)
        keys.setdefault(_text(table), [])
    for table, column in _fetch(connection, "triggers/primary_keys.sql", schema):
        keys.setdefault(_text(table), []).append(_text(column))
    return {table: TableShape(types, tuple(keys[table])) for table, types in columns.items()}


def current_schema(connection) -> str:
    (row,) = _fetch(connection, "triggers/current_schema.sql")
    return _text(row[0])


def read_triggers(
    connection, schema: str | None = None, environ: Mapping[str, str] | None = None
) -> list[InstalledTrigger]:
    """Every trigger of ``schema`` (None: the connection's database), by table and name;
    each managed one with the declaration it is the rendering of, when there is one
    (``environ``: where ``AURORA_EVENTS_FUNCTION_ARN_<NAME>`` and the prefix come from)."""
    schema = schema or current_schema(connection)
    rows = _fetch(connection, "triggers/installed_triggers.sql", schema)
    shapes = table_shapes(connection, schema) if rows else {}
    found = []
    for name, table, timing, event, definer, body in rows:
        name, table, body = _text(name), _text(table), _text(body)
        timing, event = _text(timing).upper(), _text(event).upper()
        tokens = sql_tokens(body)
        calls = _calls(tokens)
        declaration = None
        if calls is not None and table in shapes:
            declaration = recognise(
                name, table, timing, event, tokens, calls, shapes[table], environ, body
            )
        found.append(
            InstalledTrigger(
                schema,
                name,
                table,
                timing,
                event,
                definer_account(_text(definer)),
                body,
                calls,
                declaration,
            )
        )
    return found


def from_database(connection, schema: str | None = None, environ=None) -> list:
    """The declarations (``LambdaTrigger``) of ``schema``'s managed triggers that a text of
    this project renders exactly, one per declaration (a declaration's triggers of
    several operations grouped: :func:`group_declarations`); see :func:`read_triggers`
    for all of them."""
    found = [t.declaration for t in read_triggers(connection, schema, environ) if t.declaration]
    return group_declarations(found)


def _token_spans(body: str) -> list[tuple[str, str, int, int]]:
    """``(kind, text, start, end)`` of each token of ``body`` but spaces and comments."""
    return [
        (match.lastgroup, match.group(), match.start(), match.end())
        for match in _TOKEN.finditer(body)
        if match.lastgroup not in ("space", "comment")
    ]


def _closing(tokens, start: int) -> int | None:
    """The index of the ``)`` that closes the ``(`` at ``start``."""
    depth = 0
    for index in range(start, len(tokens)):
        if tokens[index][:2] == ("other", "("):
            depth += 1
        elif tokens[index][:2] == ("other", ")"):
            depth -= 1
            if depth == 0:
                return index
    return None


def read_condition(body: str, event: str) -> tuple[tuple[str, ...], str | None] | None:
    """``(columns compared, when)`` of a change-event text's ``SET aurora_events_fire =
    <condition>;`` (``row_event_sql.condition_expression``); None when there is none.
    What it reads is checked by rendering it again (:func:`recognise`)."""
    spans = _token_spans(body)
    start = None
    for index in range(1, len(spans) - 3):
        head = [identifier_value(token[:2]) for token in spans[index : index + 2]]
        if (
            head == ["set", "aurora_events_fire"]
            and spans[index + 2][:2] == ("other", "=")
            and identifier_value(spans[index - 1][:2]) != "sqlexception"
        ):
            start = index + 3
            break
    if start is None:
        return None
    end, depth = start, 0
    while end < len(spans) and not (spans[end][:2] == ("other", ";") and depth == 0):
        depth += {"(": 1, ")": -1}.get(spans[end][1], 0) if spans[end][0] == "other" else 0
        end += 1
    condition = spans[start:end]
    compared: list[str] = []
    if event == "UPDATE":
        if not condition or identifier_value(condition[0][:2]) != "not":
            return None
        close = _closing(condition, 1)
        if close is None:
            return None
        inside = condition[2:close]
        for index in range(len(inside) - 2):
            if identifier_value(inside[index][:2]) == "new" and inside[index + 1][1] == ".":
                compared.append(identifier_value(inside[index + 2][:2]) or "")
        condition = condition[close + 1 :]
        if condition:
            if identifier_value(condition[0][:2]) != "and":
                return None
            condition = condition[1:]
    elif [token[1] for token in condition] == ["1"]:
        condition = []
    if not condition:
        return tuple(compared), None
    if condition[0][1] != "(" or _closing(condition, 0) != len(condition) - 1:
        return None
    return tuple(compared), body[condition[0][3] : condition[-1][2]].strip()


def _column_names(found: tuple[str, ...], columns) -> tuple[str, ...]:
    """The table's spelling of the (lower-cased) column names read from a body."""
    spelled = {column.lower(): column for column in columns}
    return tuple(spelled.get(name, name) for name in found)


def recognise(
    name: str,
    table: str,
    timing: str,
    event: str,
    tokens: list[tuple[str, str]],
    calls: TriggerCalls,
    shape: TableShape,
    environ: Mapping[str, str] | None = None,
    body: str | None = None,
):
    """The ``LambdaTrigger`` (of the one operation ``event``) whose rendering ``tokens``
    is, or None (see module doc)."""
    from migrations.lambda_trigger import (
        NAME_CODES,
        RELAY_FUNCTION,
        LambdaTrigger,
        render_statement,
    )

    environ = os.environ if environ is None else environ
    if timing != "AFTER" or event not in NAME_CODES or calls.unreadable_calls:
        return None
    image = {"INSERT": "row", "UPDATE": "after", "DELETE": "before"}[event]
    columns, primary_key = payload_keys(tokens, image), payload_keys(tokens, "primary_key")
    if not columns or not primary_key:
        return None
    if calls.delivery == "direct":
        if len(calls.invoked) != 1 or calls.outbox_targets:
            return None
        (target,), relay = calls.invoked, None
    else:
        if len(calls.invoked) != 1 or len(calls.outbox_targets) != 1:
            return None
        (target,), (relay,) = calls.outbox_targets, calls.invoked
        if catalog_function(FunctionArn.parse(relay), environ) != RELAY_FUNCTION:
            return None  # rings another relay than the deployment's: not what we render
    function = catalog_function(FunctionArn.parse(target), environ)
    condition = read_condition(body, event) if body is not None else None
    default_name = f"{table}_{NAME_CODES[event]}_{function}"
    for (delivery, version), text in TRIGGER_TEXTS.items():
        if delivery != calls.delivery or event not in text.operations:
            continue
        when, changed = None, ()
        if text.changes:
            if condition is None:
                continue
            compared, when = condition
            compared = _column_names(compared, shape.column_types)
            changed = () if compared == columns else compared
        try:
            candidate = LambdaTrigger(
                table=table,
                function=function,
                columns=columns,
                primary_key=None if primary_key == shape.primary_key else primary_key,
                name=None if name == default_name else name,
                delivery=delivery,
                template_version=version,
                operations=(event,),
                when=when,
                columns_changed=changed,
            )
            statement = render_statement(
                candidate,
                shape.column_types,
                shape.primary_key,
                lambda f: target if f == function else relay,
            )
        except (TriggerDefinitionError, ValueError):
            continue  # a column gone or of another type: this text does not render the body
        if body_tokens(statement) == tokens:
            return candidate
    return None


def group_declarations(declarations: list) -> list:
    """One declaration per set of installed triggers that one declaration renders: the
    triggers of several operations with the same table, function, columns, text and
    conditions, named as that declaration names them, become one (``operations`` all of
    theirs). The others stay one declaration per trigger."""
    from migrations.lambda_trigger import NAME_CODES

    groups: dict[tuple, list] = {}
    for declaration in declarations:
        (operation,) = declaration.operations
        suffix = f"_{NAME_CODES[operation]}"
        base = declaration.name
        if base is not None and base.endswith(suffix):
            base = base[: -len(suffix)]
        key = (
            declaration.table,
            declaration.function,
            declaration.columns,
            declaration.primary_key,
            declaration.delivery,
            declaration.template_version,
            declaration.when,
            base,
            declaration.name is None,
        )
        groups.setdefault(key, []).append(declaration)
    found = []
    for key, members in groups.items():
        operations = {m.operations[0] for m in members}
        if len(members) == 1 or len(operations) != len(members):
            found.extend(members)
            continue
        merged = dataclasses.replace(
            members[0],
            operations=tuple(operations),
            name=key[7],
            columns_changed=next((m.columns_changed for m in members if m.columns_changed), ()),
        )
        found.append(merged)
    return found
