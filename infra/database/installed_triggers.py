"""The triggers a schema holds, read back from the server: which call Lambda, as which
account, and which functions — what the doctor checks instead of what someone says.

A trigger of this project calls ``lambda_async``/``lambda_sync`` with the function's ARN
as a string literal (``sql/triggers/lambda_after_insert.sql``: delivery ``direct``), or
writes its event into the outbox with the target's ARN as a literal and rings the relay
with ``lambda_async`` (``sql/triggers/outbox_after_insert.sql`` and its texts 2 and 3,
``_v2``/``_v3``: delivery ``outbox``; text 3's other literals, its doorbell lock's name
and a date, are no ARNs). Both run as their DEFINER, which therefore needs the Lambda
grant (text 3's user-level lock needs no privilege). The body is scanned
as SQL tokens (strings, quoted identifiers and comments kept whole), so a column called
``lambda_async`` or an ARN in a comment is not taken for a call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pymysql

from functions.relay.outbox import OUTBOX_TABLE
from infra.database.statements import fetch_all

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
FUNCTION_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12})"
    r":function:(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?"
)


@dataclass(frozen=True)
class FunctionReference:
    """A Lambda function ARN as a trigger names it: unqualified, or with a version or an
    alias (``…:function:shop-events-notify:live``); both are allowed."""

    arn: str  # as written

    @property
    def parts(self) -> re.Match:
        return FUNCTION_ARN.fullmatch(self.arn)

    @property
    def function_arn(self) -> str:
        """The unqualified ARN (what Aurora's policy names, with ``:*`` for the rest)."""
        return self.arn if self.qualifier is None else self.arn.rsplit(":", 1)[0]

    @property
    def name(self) -> str:
        return self.parts["name"]

    @property
    def qualifier(self) -> str | None:
        return self.parts["qualifier"]

    @property
    def region(self) -> str:
        return self.parts["region"]


def function_reference(text: str) -> FunctionReference | None:
    """``text`` as a Lambda function ARN, or None when it is not one."""
    return FunctionReference(text) if FUNCTION_ARN.fullmatch(text) else None


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
    writes the outbox (not ours to check)."""
    tokens = sql_tokens(body)
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
        and function_reference(string_value(text)) is not None
    ]
    if not (invoked or unreadable or writes_outbox):
        return None
    return TriggerCalls(
        delivery="outbox" if writes_outbox else "direct",
        invoked=tuple(dict.fromkeys(invoked)),
        outbox_targets=tuple(dict.fromkeys(targets)) if writes_outbox else (),
        unreadable_calls=unreadable,
    )


def definer_account(definer: str) -> tuple[str, str]:
    """information_schema's DEFINER (``user@host``, unquoted) as ``(user, host)``."""
    user, _, host = definer.rpartition("@")
    return (user, host) if user else (definer, "%")


@dataclass(frozen=True)
class InstalledTrigger:
    schema: str
    name: str
    table: str
    definer: tuple[str, str]  # (user, host)
    calls: TriggerCalls

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


def installed_triggers(
    connection: pymysql.connections.Connection, schema: str
) -> list[InstalledTrigger]:
    """The triggers of ``schema`` that call Lambda or write the outbox, by table and name."""
    found = []
    for name, table, definer, body in fetch_all(
        connection, "triggers/installed_triggers.sql", schema
    ):
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        calls = trigger_calls(body)
        if calls is not None:
            found.append(InstalledTrigger(schema, name, table, definer_account(definer), calls))
    return found
