"""Fuzzing the ingest function's answer (no queue: ``send`` is a list's append).

Any event, in both payload shapes, gets 202, 400, 404, 405 or 413 and nothing raises; of
what is answered 202, the queued message reads back (as the drain reads it) to exactly
the values posted, and holds only characters SQS accepts (checked by the local SQS's own
statement of SQS's rule, :mod:`infra.local.moto_sqs`). Any string value holding a character
SQS refuses is a 400 naming the field and a code point it holds; any other passes, unless
it is refused for a control character or its length. Bodies are arbitrary text, arbitrary
JSON, deep nesting, and near-valid bodies built from the schema with one value mutated;
events have arbitrary methods, paths, headers (an Idempotency-Key among them), base64
flags and broken members.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.common.queue_messages import parse_message
from functions.common.resources import RESOURCES, Field, Resource, stored_key
from functions.ingest.requests import answer
from infra.local.moto_sqs import refused_character

# About 11 s in `make test` on the 2-core CI machine (its slowest-tests list shows it).
MAX_EXAMPLES = 2500
STATUSES = {202, 400, 404, 405, 413}
LIMITS = (262_144, 700)  # the real one, and one that long names cross (both 413 paths)

# Any code point, lone surrogates included (st.characters() leaves those out).
any_character = st.one_of(
    st.characters(exclude_categories=()),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
)
any_text = st.text(any_character, max_size=40)
# Printable: what a short field may hold (no Cc, no line/paragraph separator, no surrogate,
# nor the two noncharacters SQS refuses).
printable = st.characters(
    exclude_categories=("Cc", "Cs"), exclude_characters="\u2028\u2029\ufffe\uffff"
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)

HOSTILE_STRINGS = [
    "\n",
    "\r\n",
    "\t",
    " ",
    "\x00",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\u200b",
    "\ud800",
    "\ufffe",
    "\uffff",
    "\\",
    '"',
    "'; DROP TABLE orders;--",
    "%s",
    "{0}",
    "😀",
]
HOSTILE_DECIMAL_TEXTS = [
    '"1_0"',
    '"+1"',
    '" 1"',
    '"1 "',
    '"1\\n"',
    '"1e2"',
    '"1."',
    '".5"',
    '"\\u0661\\u0662"',
    '"Infinity"',
    '"NaN"',
    '"-1"',
    '"0"',
    '"0.001"',
    '"9999999999.995"',
    '"10000000000"',
    '""',
    "1.0000000000000001",
    "1e-7",
    "1E400",
    "-0.0",
    "0",
    "NaN",
    "Infinity",
    "true",
    "[1]",
    '{"value": 1}',
]
HOSTILE_INTEGER_TEXTS = ["0", "-1", "9223372036854775808", "7.0", '"7"', "true", "1e2", "null"]


def rarely(draw) -> bool:
    """True about one time in ten (hypothesis draws 0, not 9, far more often than that)."""
    return draw(st.integers(0, 9)) == 9


@st.composite
def valid_value_texts(draw, field: Field) -> str:
    """The JSON text of a value the schema accepts, written the ways a client may write it."""
    if field.kind == "integer":
        return str(draw(st.integers(1, 2**63 - 1)))
    if field.kind == "decimal":
        amount = draw(
            st.decimals(min_value=Decimal("0.01"), max_value=field.maximum, places=field.scale)
        )
        text = draw(st.sampled_from([f"{amount:f}", f"{amount.normalize():f}"]))
        exponent = draw(st.integers(-3, 3))
        scientific = f"{amount.scaleb(-exponent):f}e{exponent}"
        return draw(st.sampled_from([json.dumps(text), text, scientific]))
    if field.kind == "currency":
        return json.dumps(draw(st.from_regex(r"[A-Z]{3}", fullmatch=True)))
    if field.kind == "email":
        part = st.text(printable.filter(lambda c: c != "@" and not c.isspace()), min_size=1)
        email = f"{draw(part)}@{draw(part)}.{draw(part)}"
        return json.dumps(email, ensure_ascii=draw(st.booleans()))
    size = draw(st.sampled_from([8, 30, field.max_length or 40]))  # mostly short: quicker
    return json.dumps(draw(st.text(printable, min_size=1, max_size=size)), ensure_ascii=False)


@st.composite
def mutated_value_texts(draw, field: Field) -> str:
    """A value the schema may or may not accept: valid, hostile, or anything at all."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    if choice == 1 and field.kind == "decimal":
        return draw(st.sampled_from(HOSTILE_DECIMAL_TEXTS))
    if choice == 1 and field.kind == "integer":
        return draw(st.sampled_from(HOSTILE_INTEGER_TEXTS))
    valid = json.loads(draw(valid_value_texts(field)))
    if choice in (1, 2) and isinstance(valid, str):  # a hostile character put in somewhere
        at = draw(st.integers(0, len(valid)))
        bad = draw(st.sampled_from(HOSTILE_STRINGS))
        return json.dumps(valid[:at] + bad + valid[at:], ensure_ascii=draw(st.booleans()))
    if choice == 3 and isinstance(valid, str):  # one too long
        return json.dumps("x" * ((field.max_length or 3) + 1))
    return draw(valid_value_texts(field))


@st.composite
def near_valid_bodies(draw) -> tuple[str, str]:
    """(path, body text): the schema's fields, some mutated, dropped, doubled or added."""
    resource: Resource = draw(st.sampled_from(RESOURCES))
    # About half of them valid; the others with one field mutated (or, rarely, dropped).
    mutated = draw(st.sampled_from(range(len(resource.fields)))) if draw(st.booleans()) else -1
    pairs = []
    for index, field in enumerate(resource.fields):
        if index == mutated and rarely(draw):
            continue
        value = mutated_value_texts(field) if index == mutated else valid_value_texts(field)
        pairs.append((json.dumps(field.name), draw(value)))
    if rarely(draw) and pairs:  # a key twice
        pairs.append(draw(st.sampled_from(pairs)))
    if rarely(draw):  # an unknown key, lone surrogates and all
        pairs.append((json.dumps(draw(any_text)), draw(st.sampled_from(["1", "null", '"x"']))))
    pairs = draw(st.permutations(pairs))
    spacing = draw(st.sampled_from(["", " ", "\n", "\t "]))
    body = "{" + ",".join(f"{spacing}{key}:{spacing}{value}" for key, value in pairs) + "}"
    return resource.path, body


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


resource_paths = st.sampled_from([resource.path for resource in RESOURCES])
bodies = st.one_of(
    near_valid_bodies(),
    near_valid_bodies(),
    near_valid_bodies(),
    st.tuples(resource_paths, any_text),
    st.tuples(resource_paths, st.builds(json.dumps, json_values)),
    st.tuples(resource_paths, st.builds(nested, st.sampled_from([10, 1_000, 100_000]))),
)
methods = st.one_of(st.sampled_from(["POST", "post", "GET", "PUT", "DELETE", ""]), any_text)
paths = st.one_of(
    st.sampled_from(["/orders", "/customers", "/orders/", "//customers//", "/invoices", "/"]),
    any_text,
)
valid_keys = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
idempotency_keys = st.one_of(
    valid_keys,
    valid_keys,
    valid_keys,
    st.sampled_from(["k\n", "k ", "", "k" * 129, "ké", "k\x00"]),
    any_text,
)
headers = st.tuples(
    st.dictionaries(any_text, any_text, max_size=3),
    st.sampled_from(["Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY", None]),
    idempotency_keys,
)


@st.composite
def events(draw) -> tuple[dict, int]:
    """An API Gateway proxy event (REST v1 or HTTP API v2) and the size limit to apply."""
    path, text = draw(bodies)
    path = draw(paths) if rarely(draw) else path
    method = draw(methods) if rarely(draw) else "POST"
    extra, key_header, key = draw(headers)
    extra = extra if rarely(draw) else {}
    event_headers = {**extra, **({key_header: key} if key_header else {})}
    encoded = draw(st.booleans())
    body = text
    if encoded:
        kind = draw(st.integers(0, 5))
        if kind == 4:
            body = base64.b64encode(draw(st.binary(max_size=64))).decode()
        elif kind == 5:
            body = draw(any_text)  # usually not base64 at all
        else:
            body = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()
    if draw(st.booleans()):
        event = {
            "httpMethod": method,
            "path": path,
            "headers": event_headers,
            "body": body,
            "isBase64Encoded": encoded,
            "requestContext": {"requestId": draw(any_text)},
        }
    else:
        event = {
            "version": "2.0",
            "rawPath": path,
            "headers": event_headers,
            "body": body,
            "isBase64Encoded": encoded,
            "requestContext": {"requestId": draw(any_text), "http": {"method": method}},
        }
    if rarely(draw):  # a member missing or of another type
        member = draw(st.sampled_from(sorted(event)))
        if draw(st.booleans()):
            del event[member]
        else:
            event[member] = draw(json_values)
    return event, draw(st.sampled_from(LIMITS))


def posted_body(event: dict) -> bytes:
    raw = event.get("body") or ""
    return base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")


def assert_stored_as_posted(event: dict, message) -> None:
    """The drain's reading of the message holds exactly the values in the posted body."""
    # Read the post independently: numbers as exact decimals, no float in between.
    posted = json.loads(posted_body(event), parse_float=Decimal)
    row = parse_message(message.body)
    assert set(posted) <= {field.name for field in row.resource.fields}
    for field in row.resource.fields:
        sent, stored = posted.get(field.name), row.values[field.name]
        if field.kind == "decimal":
            assert re.fullmatch(r"[0-9]+\.[0-9]{2}", stored), stored
            assert Decimal(str(sent)) == Decimal(stored), (sent, stored)
        else:
            assert (type(sent), sent) == (type(stored), stored)
    given_key = {k.lower(): v for k, v in (event.get("headers") or {}).items()}.get(
        "idempotency-key"
    )
    assert row.client_key == given_key
    assert row.idempotency_key == stored_key(row.resource, row.values, given_key, None)


def test_fuzzed_events_get_a_known_answer_and_what_is_accepted_is_stored_as_posted():
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(events())
    def check(case):
        event, limit = case
        sent = []

        def send(message):
            sent.append(message)
            return f"m-{len(sent)}"

        result = answer(event, send, limit, auth="none")
        status = result["statusCode"]
        statuses[status] += 1
        assert status in STATUSES, result
        reply = json.loads(result["body"].encode("ascii"))  # ASCII JSON, whatever was echoed
        if status == 202:
            (message,) = sent
            assert reply["idempotency_key"] == message.idempotency_key
            assert len(message.body.encode("utf-8")) <= limit
            assert refused_character(message.body) is None
            assert_stored_as_posted(event, message)
        else:
            assert sent == []
            assert isinstance(reply["message"], str) and reply["error"]

    check()
    # Every case was tried, and each answer came up often enough to mean something.
    assert sum(statuses.values()) >= MAX_EXAMPLES
    assert set(statuses) == STATUSES, statuses
    assert statuses[202] >= MAX_EXAMPLES // 20, statuses


# Mostly near SQS's edges: its refused characters among accepted ones of every kind.
edge_characters = st.one_of(
    any_character,
    st.sampled_from(["\t", "\n", "\r", "\x1f", " ", "\ud7ff", "\ue000", "\ufffd"]),
    st.sampled_from(["\ufffe", "\uffff", "\ud800", "\udbff", "\udc00", "\udfff"]),
    st.sampled_from(["\U00010000", "\U0010ffff", "\U0001f600"]),
)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # the schema's, as documented


def test_a_value_with_a_character_sqs_refuses_is_a_400_and_any_other_passes_that_check():
    customers = next(resource for resource in RESOURCES if resource.name == "customers")
    limit = customers.field("name").max_length

    @settings(max_examples=1500, derandomize=True, database=None, deadline=None)
    @given(st.text(edge_characters, min_size=1, max_size=12), st.booleans())
    def check(name, ascii_json):
        # A lone surrogate can only come escaped: an unescaped one is no UTF-8 (its own 400).
        ascii_json = ascii_json or any(0xD800 <= ord(c) <= 0xDFFF for c in name)
        body = json.dumps({"email": "a@b.co", "name": name}, ensure_ascii=ascii_json)
        event = {"httpMethod": "POST", "path": "/customers", "body": body}
        sent = []
        result = answer(event, lambda message: sent.append(message) or "m-1", 262_144, auth="none")
        reply = json.loads(result["body"])
        refused = refused_character(name)
        if refused is not None or CONTROL.search(name):
            assert (result["statusCode"], reply["field"], sent) == (400, "name", [])
            named = re.search(r"U\+([0-9A-F]{4,6})", reply["message"])
            assert named and chr(int(named.group(1), 16)) in name, reply
            if refused is not None and not CONTROL.search(name):
                assert reply["message"].endswith("which SQS does not accept"), reply
        elif len(name) > limit:
            assert result["statusCode"] == 400
        else:
            assert result["statusCode"] == 202, reply
            assert parse_message(sent[0].body).values["name"] == name

    check()
