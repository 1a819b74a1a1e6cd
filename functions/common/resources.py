"""The resources the ingest path accepts, declared once: the API's request schema, the
queue's message group, and the table the drain writes.

A request body is a JSON object with exactly the declared fields. Validation names the
first field that is wrong; strings are kept exactly as sent (no trimming, no case
folding), so what is stored is byte-identical to what the client posted. A value that
could only be stored changed (a control character, a decimal string Python would
reinterpret) is refused instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from functions.common.sqs_text import code_point, first_refused


class InvalidRequest(ValueError):
    """The body does not match the resource's schema; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Field:
    """One field of a request body; ``kind`` is string, email, integer, decimal or currency."""

    name: str
    kind: str
    required: bool = True
    max_length: int | None = None
    # decimal: digits after the point, and the largest value the column holds
    scale: int = 2
    maximum: Decimal | int | None = None


@dataclass(frozen=True)
class Resource:
    """A POST endpoint: ``/<name>`` writes one row of ``table`` per accepted request."""

    name: str
    table: str
    fields: tuple[Field, ...]
    group_field: str  # the customer: whose writes must stay in order
    # The idempotency key's scope: the fields whose values, with the client's key, make
    # the stored key (see :func:`stored_key`). Empty: the key alone.
    scope: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return f"/{self.name}"

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


RESOURCES: tuple[Resource, ...] = (
    Resource(
        name="customers",
        table="customers",
        fields=(
            Field("email", "email", max_length=320),
            Field("name", "string", max_length=200),
            Field("phone", "string", required=False, max_length=40),
        ),
        group_field="email",
        scope=(),  # the key alone: a customer is found by its email, not by a parent
    ),
    Resource(
        name="orders",
        table="orders",
        fields=(
            Field("customer_id", "integer", maximum=2**63 - 1),
            Field("amount", "decimal", scale=2, maximum=Decimal("9999999999.99")),
            Field("currency", "currency"),
        ),
        group_field="customer_id",
        scope=("customer_id",),  # another customer's order with the same key is another order
    ),
)

# Every pattern is used with fullmatch: re's "$" also matches before a trailing newline.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
# Decimal() alone would strip whitespace and accept "1_0", "+1", "1e2", "Infinity" and
# non-ASCII digits: a decimal string is ASCII digits with an optional fraction, no more.
# (A leading minus is let through to be refused as "must be above 0", the clearer message.)
_DECIMAL_STRING = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# A JSON number's own grammar (RFC 8259), for the number text the parser kept.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Unicode category Cc (fixed by Unicode's stability policy: C0, DEL, C1), and the line and
# paragraph separators, which are not Cc but break lines just the same.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class JsonNumber(float):
    """A JSON number with a fraction or exponent, as parsed: a float that keeps its text.

    Pass it as ``json.loads(..., parse_float=JsonNumber)``: the decimal field reads the
    exact text (a float would round ``1.0000000000000001`` to 1), while everything else,
    the canonical JSON of the idempotency key included, sees an ordinary float.
    """

    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


def resource_for_path(path: str) -> Resource | None:
    """The resource served at ``path`` (a trailing slash is allowed)."""
    normalized = "/" + path.strip("/")
    return next((r for r in RESOURCES if r.path == normalized), None)


def resource_named(name: str) -> Resource:
    for resource in RESOURCES:
        if resource.name == name:
            return resource
    raise InvalidRequest(f"unknown resource {name!r}")


def validate_body(resource: Resource, body: Any) -> dict[str, Any]:
    """Check ``body`` against the schema; return the values to store (decimals as strings)."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"body must be a JSON object, got {json_type(body)}")
    unknown = sorted(set(body) - {f.name for f in resource.fields})
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", unknown[0])
    values: dict[str, Any] = {}
    for field in resource.fields:
        if field.name not in body or body[field.name] is None:
            if field.required:
                raise InvalidRequest(f"field {field.name!r} is required", field.name)
            values[field.name] = None
            continue
        values[field.name] = _validate_value(field, body[field.name])
    return values


def _validate_value(field: Field, value: Any) -> Any:
    name = field.name
    if field.kind in ("string", "email", "currency"):
        if not isinstance(value, str):
            raise InvalidRequest(f"field {name!r} must be a string, got {json_type(value)}", name)
        control = _CONTROL.search(value)
        if control:
            raise InvalidRequest(
                f"field {name!r} must not contain a control character "
                f"(U+{ord(control.group()):04X} at index {control.start()})",
                name,
            )
        # The queue's rule (what is left of it: lone surrogates, which have no UTF-8 form
        # either, U+FFFE and U+FFFF).
        refused = first_refused(value)
        if refused:
            raise InvalidRequest(
                f"field {name!r} holds {code_point(refused)}, which SQS does not accept", name
            )
        if field.required and value == "":
            raise InvalidRequest(f"field {name!r} must not be empty", name)
        if field.max_length is not None and len(value) > field.max_length:
            raise InvalidRequest(
                f"field {name!r} is {len(value)} characters; at most {field.max_length}", name
            )
        if field.kind == "email" and not _EMAIL.fullmatch(value):
            raise InvalidRequest(f"field {name!r} must be an email address", name)
        if field.kind == "currency" and not _CURRENCY.fullmatch(value):
            raise InvalidRequest(f"field {name!r} must be a 3-letter ISO currency code", name)
        return value
    if field.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"field {name!r} must be an integer, got {json_type(value)}", name)
        if value < 1 or (field.maximum is not None and value > field.maximum):
            raise InvalidRequest(f"field {name!r} must be between 1 and {field.maximum}", name)
        return value
    if field.kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidRequest(
                f"field {name!r} must be a decimal number, got {json_type(value)}", name
            )
        number = _decimal(field, value)
        if not number.is_finite() or number <= 0 or (field.maximum and number > field.maximum):
            raise InvalidRequest(
                f"field {name!r} must be above 0 and at most {field.maximum}", name
            )
        if -number.as_tuple().exponent > field.scale:
            raise InvalidRequest(
                f"field {name!r} has more than {field.scale} digits after the point", name
            )
        return str(number.quantize(Decimal(1).scaleb(-field.scale)))
    raise AssertionError(f"unknown field kind {field.kind!r}")


def _decimal(field: Field, value: int | float | str) -> Decimal:
    """The exact value sent: a string by the strict pattern, a number by its JSON text."""
    if isinstance(value, str):
        text = value
        if not _DECIMAL_STRING.fullmatch(text):
            raise InvalidRequest(
                f"field {field.name!r} must be a decimal number like 12.50 (ASCII digits, "
                "an optional point and digits; no plus sign, spaces or exponent)",
                field.name,
            )
    elif isinstance(value, int):
        text = str(value)
    else:
        # A plain float (not parsed with JsonNumber) has lost its text already: its repr
        # is the shortest text that gives the same float, the best that is left.
        text = getattr(value, "text", None) or repr(value)
        if not _JSON_NUMBER.fullmatch(text):
            raise InvalidRequest(f"field {field.name!r} must be a finite number", field.name)
    try:
        return Decimal(text)
    except InvalidOperation:  # the patterns above leave nothing Decimal refuses
        raise InvalidRequest(f"field {field.name!r} must be a decimal number", field.name) from None


def message_group_id(resource: Resource, values: dict[str, Any]) -> str:
    """The FIFO group: one per customer, so a customer's writes stay in order.

    Hashed, so no personal data (an email) ends up in queue metadata.
    """
    key = f"{resource.group_field}:{values[resource.group_field]}"
    if resource.group_field == "email":
        key = "email:" + str(values["email"]).lower()
    return "customer-" + hashlib.sha256(key.encode()).hexdigest()[:40]


STORED_KEY_PREFIX = "s1:"


def canonical_json(values: dict[str, Any]) -> str:
    """The canonical JSON of validated values: keys sorted, no whitespace, non-ASCII kept
    (hashed as UTF-8). Decimals are already strings (``"12.50"``), so a body sent with
    ``12.5`` or ``"12.50"`` has one canonical form."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_hash(values: dict[str, Any]) -> str:
    """SHA-256 (hex) of the validated values' :func:`canonical_json`: the request's body
    as stored, to tell an exact resend from another request under the same key."""
    return hashlib.sha256(canonical_json(values).encode("utf-8")).hexdigest()


def stored_key(
    resource: Resource,
    values: dict[str, Any],
    client_key: str | None,
    principal: str | None,
    values_hash: str | None = None,
) -> str:
    """The idempotency key the row is stored under: ``s1:`` + SHA-256 (hex) of the
    canonical JSON of ``{"resource", "principal", "scope", "key", "body"}``, 67 ASCII
    characters (the column holds 128).

    ``scope`` maps each of the resource's :attr:`Resource.scope` fields to its value (for
    orders, the customer: two customers' orders under one client key are two orders).
    ``principal`` is the authenticated caller (None when the API is anonymous). ``key`` is
    the client's ``Idempotency-Key``; without one it is null and ``body`` is
    :func:`body_hash`, so identical bodies are one request. Canonical JSON keeps
    every part apart (no separator a value could contain), and hashing keeps personal data
    (an email in a scope) out of the key. Rows stored before scoping keep the client's key
    as it was sent; it cannot be mistaken for this form unless a client sent ``s1:`` and
    64 hex digits itself. ``values_hash``: the values' :func:`body_hash`, when the caller
    has it already (a request is hashed once)."""
    document = {
        "resource": resource.name,
        "principal": principal,
        "scope": {name: values[name] for name in resource.scope},
        "key": client_key,
        "body": (values_hash or body_hash(values)) if client_key is None else None,
    }
    digest = hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()
    return STORED_KEY_PREFIX + digest


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
