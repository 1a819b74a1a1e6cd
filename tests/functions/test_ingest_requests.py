"""The ingest function's pure part: events in, messages and answers out."""

import base64
import hashlib
import json
import re

import pytest

from functions.common.queue_messages import parse_message
from functions.common.resources import (
    InvalidRequest,
    body_hash,
    message_group_id,
    resource_named,
    stored_key,
    validate_body,
)
from functions.drain.rows import insert_statement
from functions.ingest.requests import (
    MessageRefused,
    QueueUnavailable,
    RequestError,
    answer,
    build_message,
    error_response,
    parse_api_event,
    queue_refusal,
    response,
)

LIMIT = 262_144
ORDER = {"customer_id": 7, "amount": "12.5", "currency": "USD"}
ORDERS, CUSTOMERS = resource_named("orders"), resource_named("customers")


def v1_event(path="/orders", body=ORDER, headers=None, method="POST"):
    return {
        "httpMethod": method,
        "path": path,
        "headers": headers or {},
        "body": body if isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r-1"},
    }


def v2_event(path="/orders", body=ORDER, headers=None):
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": headers or {},
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "isBase64Encoded": True,
        "requestContext": {"requestId": "r-2", "http": {"method": "POST"}},
    }


def test_rest_and_http_api_events_give_the_same_message():
    one = build_message(parse_api_event(v1_event(headers={"Idempotency-Key": "k-1"})), LIMIT)
    two = build_message(parse_api_event(v2_event(headers={"idempotency-key": "k-1"})), LIMIT)
    assert (one.group_id, one.deduplication_id, one.idempotency_key) == (
        two.group_id,
        two.deduplication_id,
        two.idempotency_key,
    )
    body = json.loads(one.body)
    assert body["data"] == {"customer_id": 7, "amount": "12.50", "currency": "USD"}
    assert body["resource"] == "orders" and body["client_key"] == "k-1"
    assert body["idempotency_key"] == one.stored_key
    assert one.stored_key == stored_key(ORDERS, body["data"], "k-1", None)
    text = f"orders:{one.stored_key}:{body['body_hash']}"
    assert one.deduplication_id == hashlib.sha256(text.encode()).hexdigest()


def test_without_a_key_the_documented_request_hash_is_the_key():
    message = build_message(
        parse_api_event(v1_event(body='{ "currency":"USD", "amount":"12.5", "customer_id":7 }')),
        LIMIT,
    )
    # The validated values' canonical JSON: "12.5" and "12.50" are one amount.
    canonical = '{"amount":"12.50","currency":"USD","customer_id":7}'
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert message.idempotency_key == "sha256:" + expected
    assert json.loads(message.body)["body_hash"] == expected
    again = build_message(parse_api_event(v1_event()), LIMIT)  # same body, other spacing
    assert again.idempotency_key == message.idempotency_key
    assert (again.stored_key, again.deduplication_id) == (
        message.stored_key,
        message.deduplication_id,
    )


def test_the_stored_key_is_scoped_by_the_resources_declaration():
    order = {"customer_id": 501, "amount": "1.00", "currency": "USD"}
    other_customer = {**order, "customer_id": 502}
    # Orders: the customer is in the scope; the body otherwise is not.
    assert stored_key(ORDERS, order, "k", None) != stored_key(ORDERS, other_customer, "k", None)
    assert stored_key(ORDERS, order, "k", None) == stored_key(
        ORDERS, {**order, "amount": "2.00"}, "k", None
    )
    # Customers: the key alone.
    ann = {"email": "ann@example.com", "name": "Ann", "phone": None}
    bob = {"email": "bob@example.com", "name": "Bob", "phone": None}
    assert stored_key(CUSTOMERS, ann, "k", None) == stored_key(CUSTOMERS, bob, "k", None)
    # The principal (issue 17 item 2) and the resource are part of it; without a client
    # key the body is, and a client cannot send a key that equals a keyless one.
    assert stored_key(ORDERS, order, "k", "caller-a") != stored_key(ORDERS, order, "k", None)
    assert stored_key(CUSTOMERS, ann, None, None) != stored_key(CUSTOMERS, bob, None, None)
    keyless = stored_key(ORDERS, order, None, None)
    assert keyless != stored_key(ORDERS, order, "sha256:" + body_hash(order), None)
    assert re.fullmatch(r"s1:[0-9a-f]{64}", keyless) and len(keyless) <= 128


def test_one_group_per_customer_without_personal_data():
    orders = resource_named("orders")
    assert message_group_id(orders, {"customer_id": 7}) == message_group_id(
        orders, {"customer_id": 7}
    )
    assert message_group_id(orders, {"customer_id": 7}) != message_group_id(
        orders, {"customer_id": 8}
    )
    customers = resource_named("customers")
    group = message_group_id(customers, {"email": "Ann@Example.com"})
    assert group == message_group_id(customers, {"email": "ann@example.com"})
    assert "ann" not in group.lower() and len(group) <= 128


@pytest.mark.parametrize(
    ("event", "status", "message", "field"),
    [
        (v1_event(body="{nope"), 400, "body is not valid JSON", None),
        (v1_event(body="[1, 2]"), 400, "body must be a JSON object, got array", None),
        (
            v1_event(body={"customer_id": "7", "amount": 1, "currency": "USD"}),
            400,
            "field 'customer_id' must be an integer, got string",
            "customer_id",
        ),
        (
            v1_event(body={"customer_id": True, "amount": 1, "currency": "USD"}),
            400,
            "field 'customer_id' must be an integer, got boolean",
            "customer_id",
        ),
        (
            v1_event(body={"customer_id": 7, "currency": "USD"}),
            400,
            "field 'amount' is required",
            "amount",
        ),
        (
            v1_event(body={**ORDER, "amount": "1.001"}),
            400,
            "field 'amount' has more than 2 digits after the point",
            "amount",
        ),
        (v1_event(body={**ORDER, "amount": "-5"}), 400, "field 'amount' must be above 0", "amount"),
        (
            v1_event(body={**ORDER, "amount": "NaN"}),
            400,
            "field 'amount' must be a decimal number like 12.50",
            "amount",
        ),
        (
            v1_event(body={**ORDER, "currency": "usd"}),
            400,
            "3-letter ISO currency code",
            "currency",
        ),
        (v1_event(body={**ORDER, "coupon": "X"}), 400, "unknown field 'coupon'", "coupon"),
        (
            v1_event(path="/customers", body={"email": "not-an-email", "name": "A"}),
            400,
            "field 'email' must be an email address",
            "email",
        ),
        (
            v1_event(path="/customers", body='{"email": "a@b.co", "name": "\\ud800"}'),
            400,
            "field 'name' holds U+D800, which SQS does not accept",
            "name",
        ),
        (
            v1_event(path="/customers", body='{"email": "a@b.co", "name": "Ann\\uffff"}'),
            400,
            "field 'name' holds U+FFFF, which SQS does not accept",
            "name",
        ),
        (
            v1_event(path="/customers", body={"email": "a@b.co", "name": "x" * 201}),
            400,
            "field 'name' is 201 characters; at most 200",
            "name",
        ),
        (
            v1_event(headers={"Idempotency-Key": "has space"}),
            400,
            "header Idempotency-Key must be 1 to 128 visible ASCII characters",
            "Idempotency-Key",
        ),
        (v1_event(body="x" * (LIMIT + 1)), 413, f"the limit is {LIMIT} bytes", None),
        (v1_event(path="/invoices"), 404, "no resource at '/invoices'", None),
        (v1_event(method="GET"), 405, "/orders accepts POST only", None),
    ],
)
def test_bad_requests_get_the_right_status_and_name_the_problem(event, status, message, field):
    with pytest.raises(RequestError) as raised:
        build_message(parse_api_event(event), LIMIT)
    assert raised.value.status == status
    assert message in str(raised.value)
    assert raised.value.field == field


def test_a_body_under_the_limit_whose_message_is_over_it_is_413():
    customer = {"email": "a@b.co", "name": "n", "phone": "p" * 40}
    body = json.dumps(customer)
    with pytest.raises(RequestError, match="the queued message would be"):
        build_message(parse_api_event(v1_event("/customers", body)), len(body) + 10)


def test_insert_statement_has_one_placeholder_per_value():
    statement = insert_statement(resource_named("orders"), 2)
    assert statement.count("%s") == 10
    assert (
        "INSERT INTO `orders` (`customer_id`, `amount`, `currency`, `idempotency_key`, "
        "`idempotency_body_hash`)" in statement
    )
    assert statement.endswith("VALUES (%s, %s, %s, %s, %s), (%s, %s, %s, %s, %s)")


CUSTOMER = {"email": "ann@example.com", "name": "Ann", "phone": "+1 555 0100"}


def refusal(event, limit=LIMIT):
    with pytest.raises(RequestError) as raised:
        build_message(parse_api_event(event), limit)
    return raised.value


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**ORDER, "currency": "USD\n"}, "currency", "must not contain a control character"),
        ({**ORDER, "amount": "1\n"}, "amount", "must be a decimal number like 12.50"),
        ({**ORDER, "amount": " 1"}, "amount", "must be a decimal number like 12.50"),
        ({**ORDER, "amount": "1_0"}, "amount", "must be a decimal number like 12.50"),
        ({**ORDER, "amount": "+1"}, "amount", "must be a decimal number like 12.50"),
        ({**ORDER, "amount": "1e2"}, "amount", "must be a decimal number like 12.50"),
        ({**ORDER, "amount": "1."}, "amount", "must be a decimal number like 12.50"),
        ({**ORDER, "amount": "\u0661\u0662"}, "amount", "must be a decimal number like 12.50"),
        ({**ORDER, "amount": "Infinity"}, "amount", "must be a decimal number like 12.50"),
        ({**ORDER, "currency": "US\u2028"}, "currency", "must not contain a control character"),
        (
            {**CUSTOMER, "email": "ann@example.com\n"},
            "email",
            "must not contain a control character (U+000A at index 15)",
        ),
        ({**CUSTOMER, "name": "Ann\n"}, "name", "must not contain a control character"),
        ({**CUSTOMER, "name": "A\tnn"}, "name", "must not contain a control character"),
        ({**CUSTOMER, "name": "Ann\x00"}, "name", "must not contain a control character"),
        ({**CUSTOMER, "name": "Ann\x7f"}, "name", "must not contain a control character"),
        ({**CUSTOMER, "name": "Ann\x85"}, "name", "must not contain a control character"),
        ({**CUSTOMER, "name": "Ann\u2029"}, "name", "must not contain a control character"),
        ({**CUSTOMER, "phone": "555\r\n0100"}, "phone", "must not contain a control character"),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else None,
)
def test_a_value_that_would_be_silently_changed_is_refused(body, field, message):
    path = "/orders" if "currency" in body else "/customers"
    error = refusal(v1_event(path, body))
    assert (error.status, error.field) == (400, field)
    assert f"field {field!r} " + message in str(error)


@pytest.mark.parametrize(
    ("amount_json", "stored"),
    [
        ('"1"', "1.00"),
        ('"007.5"', "7.50"),
        ('"9999999999.99"', "9999999999.99"),
        ("1", "1.00"),
        ("12.5", "12.50"),
        ("1e2", "100.00"),
        ("15E-1", "1.50"),
        ("9999999999.99", "9999999999.99"),
    ],
)
def test_a_decimal_is_stored_as_the_value_sent(amount_json, stored):
    body = '{"customer_id": 7, "currency": "USD", "amount": ' + amount_json + "}"
    message = build_message(parse_api_event(v1_event(body=body)), LIMIT)
    assert json.loads(message.body)["data"]["amount"] == stored


@pytest.mark.parametrize(
    "amount_json",
    ["1.0000000000000001", "0.001", "1e-7", "12345678901234567.5", "1e999999"],
    ids=lambda text: f"amount {text}",
)
def test_a_json_number_that_a_float_would_round_is_refused_not_rounded(amount_json):
    body = '{"customer_id": 7, "currency": "USD", "amount": ' + amount_json + "}"
    error = refusal(v1_event(body=body))
    assert (error.status, error.field) == (400, "amount")


def test_a_float_amount_has_the_body_hash_of_its_validated_value():
    # The hash is of the validated values: 12.50 sent as a number is "12.50".
    body = '{"customer_id": 7, "amount": 12.50, "currency": "USD"}'
    message = build_message(parse_api_event(v1_event(body=body)), LIMIT)
    canonical = '{"amount":"12.50","currency":"USD","customer_id":7}'
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert message.idempotency_key == "sha256:" + expected


def test_hard_but_printable_text_is_kept_byte_for_byte():
    name = "Robert'); DROP TABLE customers;-- \\ \" 😀 한국어 𝔘 \u200b \u00a0 %s {0}"
    message = build_message(
        parse_api_event(v1_event("/customers", {**CUSTOMER, "name": name})), LIMIT
    )
    assert json.loads(message.body)["data"]["name"] == name
    assert parse_message(message.body).values["name"] == name


@pytest.mark.parametrize(
    "key", ["k-1\n", "k-1\r\n", "\nk-1", "k 1", "k\x00", "ké", "k" * 129, ""], ids=repr
)
def test_an_idempotency_key_must_be_visible_ascii_throughout(key):
    error = refusal(v1_event(headers={"Idempotency-Key": key}))
    assert (error.status, error.field) == (400, "Idempotency-Key")
    assert str(error) == "header Idempotency-Key must be 1 to 128 visible ASCII characters"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_recursion_error(depth):
    for text in ["[" * depth, "[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth]:
        error = refusal(v1_event(body=text), limit=10 * 2**20)
        assert (error.status, str(error)) == (400, "body is not valid JSON: nested too deeply")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"customer_id": 1, "customer_id": 2, "amount": "1", "currency": "USD"}', "customer_id"),
        ('{"customer_id": 1, "amount": "1", "currency": "USD", "currency": "EUR"}', "currency"),
        ('{"customer_id": 1, "amount": {"a": 1, "a": 1}, "currency": "USD"}', "a"),
        ('[{"x": 1, "x": 1}]', "x"),
    ],
    ids=["customer_id twice", "currency twice", "nested key twice", "key twice in an array"],
)
def test_a_duplicate_key_is_refused_and_named(body, key):
    error = refusal(v1_event(body=body))
    assert (error.status, str(error)) == (400, f"body has the key {key!r} more than once")


def test_an_echoed_lone_surrogate_field_name_gives_an_ascii_response():
    error = refusal(v1_event(body='{"\\ud800": 1}'))
    answer = error_response(error)
    answer["body"].encode("ascii")  # the response is encodable: escaped, not raw
    assert json.loads(answer["body"]) == {
        "error": "invalid_request",
        "message": "unknown field '\\ud800'",
        "field": "\ud800",
    }


def test_a_valid_answer_with_unicode_is_escaped_json():
    answer = response(202, {"name": "한국어 😀"})
    assert answer["body"] == '{"name": "\\ud55c\\uad6d\\uc5b4 \\ud83d\\ude00"}'


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        ({**v1_event(), "isBase64Encoded": True, "body": "not base64!"}, 400, "not valid base64"),
        ({**v1_event(), "isBase64Encoded": True, "body": "abc"}, 400, "not valid base64"),
        ({**v1_event(), "isBase64Encoded": True, "body": "한국"}, 400, "not valid base64"),
        ({**v1_event(), "isBase64Encoded": "yes"}, 400, "isBase64Encoded must be true or false"),
        ({**v1_event(), "body": '{"name": "\ud800"}'}, 400, "body is not UTF-8"),
        ({**v1_event(), "body": 12}, 400, "body must be a string, got number"),
        ({**v1_event(), "body": {"customer_id": 7}}, 400, "body must be a string, got object"),
        ({k: v for k, v in v1_event().items() if k != "httpMethod"}, 400, "no HTTP method"),
        ({**v1_event(), "httpMethod": None}, 400, "no HTTP method"),
        ({**v1_event(), "httpMethod": ["POST"]}, 400, "no HTTP method"),
        ({k: v for k, v in v1_event().items() if k != "path"}, 400, "no path"),
        ({**v1_event(), "path": 7}, 400, "no path"),
        ({**v1_event(), "headers": "Idempotency-Key: k"}, 400, "headers must be an object"),
        ({**v1_event(), "headers": {"Idempotency-Key": 5}}, 400, "header 'Idempotency-Key'"),
        ({**v1_event(), "headers": {"a": "1", "A": "2"}}, 400, "header 'a' is given twice"),
        ({**v1_event(), "requestContext": "r-1"}, 400, "requestContext must be an object"),
        ({**v2_event(), "requestContext": {"http": "POST"}}, 400, "no HTTP method"),
        ({**v2_event(), "rawPath": None}, 400, "no path"),
        ({}, 400, "no HTTP method"),
    ],
    ids=lambda value: repr(value)[:60] if isinstance(value, dict) else None,
)
def test_an_event_that_cannot_be_read_is_a_4xx_not_an_exception(event, status, message):
    with pytest.raises(RequestError) as raised:
        build_message(parse_api_event(event), LIMIT)
    assert raised.value.status == status
    assert message in str(raised.value)
    assert answer(event, sent_nowhere, LIMIT, auth="none")["statusCode"] == status


def sent_nowhere(message):
    raise AssertionError(f"nothing should be sent, got {message}")


@pytest.mark.parametrize("event", [None, [], "event", 7], ids=["None", "list", "string", "number"])
def test_an_event_that_is_not_an_object_is_a_400(event):
    result = answer(event, sent_nowhere, LIMIT, auth="none")
    assert (result["statusCode"], json.loads(result["body"])["message"]) == (
        400,
        "the event must be an object",
    )


def test_answer_sends_the_message_and_a_queue_error_is_a_503():
    sent = []

    def send(message):
        sent.append(message)
        return "m-1"

    result = answer(v2_event(headers={"Idempotency-Key": "k-9"}), send, LIMIT, auth="none")
    assert result["statusCode"] == 202
    assert json.loads(result["body"])["message_id"] == "m-1"
    row = parse_message(sent[0].body)
    assert row.column_values() == [7, "12.50", "USD", sent[0].stored_key, row.body_hash]
    assert json.loads(result["body"])["stored_key"] == sent[0].stored_key

    def queue_down(message):
        raise QueueUnavailable("connection refused")

    result = answer(v2_event(), queue_down, LIMIT, auth="none")
    assert (result["statusCode"], result["headers"]["Retry-After"]) == (503, "5")
    assert json.loads(result["body"]) == {
        "error": "unavailable",
        "message": "the queue is unavailable; retry later",
    }


def test_the_refused_characters_are_exactly_category_cc_the_two_separators_and_sqs_s():
    import sys
    import unicodedata

    # Cc lies in the BMP (and stays there: Unicode's stability policy), and so does all
    # that SQS refuses (surrogates, U+FFFE, U+FFFF): the BMP will do.
    refused = set()
    for code in range(0x10000):
        character = chr(code)
        try:
            validate_body(resource_named("customers"), {"email": "a@b.co", "name": character})
        except InvalidRequest:
            refused.add(character)
    expected = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cc"}
    assert all(ord(c) < 0x10000 for c in expected)
    surrogates = {chr(c) for c in range(0xD800, 0xE000)}
    assert refused == expected | {"\u2028", "\u2029", "\ufffe", "\uffff"} | surrogates


@pytest.mark.parametrize("character", ["\ufffe", "\uffff", "\ud800", "\udfff"])
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/customers", "name"),
        ("/customers", "email"),
        ("/customers", "phone"),
        ("/orders", "currency"),
    ],
)
def test_a_character_sqs_refuses_is_a_400_naming_the_field_and_the_code_point(
    path, field, character
):
    body = dict(CUSTOMER if path == "/customers" else ORDER)
    body[field] = (body.get(field) or "x")[:2] + character
    # Escaped in the request's JSON, as a client must send a lone surrogate.
    error = refusal(v1_event(path, json.dumps(body, ensure_ascii=True)))
    assert (error.status, error.field) == (400, field)
    assert str(error) == (
        f"field {field!r} holds U+{ord(character):04X}, which SQS does not accept"
    )


def test_a_request_id_sqs_would_refuse_is_left_out_of_the_message():
    for request_id, kept in [("r-\uffff", ""), ("r-\ud800", ""), ("r-\U0001f600", "r-\U0001f600")]:
        event = {
            **v1_event(headers={"Idempotency-Key": "k-1"}),
            "requestContext": {"requestId": request_id},
        }
        message = build_message(parse_api_event(event), LIMIT)
        assert json.loads(message.body)["request_id"] == kept


def test_the_queued_body_is_raw_utf8_json_with_only_what_sqs_accepts():
    # The message keeps non-ASCII raw (ensure_ascii=False): SQS sees the value's own
    # characters, so a value holding one SQS refuses could not be sent; astral is fine.
    name = "Ann \U0001f600 \ufffd \ue000 \ud7ff"
    event = v1_event("/customers", {"email": "a@b.co", "name": name})
    message = build_message(parse_api_event(event), LIMIT)
    assert name in message.body
    assert parse_message(message.body).values["name"] == name


@pytest.mark.parametrize(
    ("code", "message", "status", "error"),
    [
        (
            "InvalidMessageContents",
            "Invalid binary character '#xFFFF' was found",
            400,
            "invalid_request",
        ),
        ("AWS.SimpleQueueService.InvalidMessageContents", "bad", 400, "invalid_request"),
        (
            "InvalidParameterValue",
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.",
            413,
            "payload_too_large",
        ),
        ("InvalidParameterValue", "Value x for parameter MessageGroupId is invalid", None, None),
        (
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist",
            None,
            None,
        ),
        ("RequestThrottled", "slow down", None, None),
        ("KmsThrottled", "slow down", None, None),
    ],
)
def test_queue_refusals_for_content_are_the_client_s_and_the_rest_are_503s(
    code, message, status, error
):
    refused = queue_refusal(code, message)
    if status is None:
        assert refused is None
    else:
        assert (refused.status, refused.error) == (status, error)
        assert message in str(refused)


def test_answer_gives_a_refused_message_its_4xx_never_a_503():
    def refusing(message):
        raise queue_refusal("InvalidMessageContents", "Invalid binary character '#xFFFF'")

    result = answer(v2_event(), refusing, LIMIT, auth="none")
    assert result["statusCode"] == 400
    assert "Retry-After" not in result["headers"]
    assert json.loads(result["body"]) == {
        "error": "invalid_request",
        "message": "the queue refused the message's characters: Invalid binary character '#xFFFF'",
    }
    assert isinstance(queue_refusal("InvalidMessageContents", ""), MessageRefused)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_json_number_amount_is_refused(constant):
    body = '{"customer_id": 7, "currency": "USD", "amount": ' + constant + "}"
    error = refusal(v1_event(body=body))
    assert (error.status, error.field, str(error)) == (
        400,
        "amount",
        "field 'amount' must be a finite number",
    )


# -- routing behind a stage ----------------------------------------------------------------
# The events below are shaped as API Gateway sends them (trimmed to what routing reads).


def http_api_event(raw_path, route_key, stage, body=ORDER):
    """An HTTP API (payload 2.0) event: ``rawPath`` carries a named stage, ``routeKey`` not."""
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "apiId": "a1b2c3d4e5",
            "http": {"method": "POST", "path": raw_path, "protocol": "HTTP/1.1"},
            "requestId": "r-3",
            "routeKey": route_key,
            "stage": stage,
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def rest_api_event(resource, path, stage, body=ORDER):
    """A REST API (payload 1.0) event: ``path`` and ``resource`` are without the stage."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "POST",
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": "r-4",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


ORDER_CANONICAL = b'{"amount":"12.50","currency":"USD","customer_id":7}'
ORDER_HASH = "sha256:" + hashlib.sha256(ORDER_CANONICAL).hexdigest()


@pytest.mark.parametrize(
    "event",
    [
        http_api_event("/orders", "POST /orders", "$default"),
        http_api_event("/orders", "$default", "$default"),
        http_api_event("/prod/orders", "POST /orders", "prod"),
        http_api_event("/prod/orders", "$default", "prod"),  # a catch-all route
        http_api_event("/prod/orders", "ANY /{proxy+}", "prod"),
        rest_api_event("/orders", "/orders", "prod"),
        rest_api_event("/{proxy+}", "/orders", "prod"),
    ],
    ids=[
        "v2 $default stage",
        "v2 $default stage, $default route",
        "v2 named stage",
        "v2 named stage, $default route",
        "v2 named stage, proxy route",
        "v1 named stage",
        "v1 named stage, proxy resource",
    ],
)
def test_the_resource_is_found_whatever_the_stage_and_the_key_ignores_it(event):
    request = parse_api_event(event)
    assert (request.method, request.path) == ("POST", "/orders")
    message = build_message(request, LIMIT)
    assert message.resource == "orders"
    # The documented request hash names the route's path, never the stage.
    assert message.idempotency_key == ORDER_HASH


def test_the_route_key_wins_over_a_raw_path_it_disagrees_with():
    # A stage named like a resource: only the route key says which one was matched.
    event = http_api_event("/orders/customers", "POST /customers", "orders", body=CUSTOMER)
    assert parse_api_event(event).path == "/customers"


@pytest.mark.parametrize(
    ("raw_path", "stage", "path"),
    [
        ("/prod/invoices", "prod", "/invoices"),
        ("/prod", "prod", "/"),
        ("/production/orders", "prod", "/production/orders"),  # not the stage's segment
        ("/orders", "prod", "/orders"),
        ("/prod/orders", "$default", "/prod/orders"),
    ],
)
def test_the_stage_is_taken_off_the_raw_path_only_as_a_whole_first_segment(raw_path, stage, path):
    event = http_api_event(raw_path, "$default", stage)
    assert parse_api_event(event).path == path


def test_an_unknown_path_behind_a_named_stage_is_named_without_the_stage():
    error = refusal(http_api_event("/prod/invoices", "$default", "prod"))
    assert (error.status, str(error)) == (404, "no resource at '/invoices'")


@pytest.mark.parametrize("value", [7, ["POST /orders"], {"a": 1}], ids=repr)
def test_route_hints_of_another_type_are_ignored_not_trusted(value):
    assert parse_api_event(rest_api_event(value, "/orders", "prod")).path == "/orders"
    assert parse_api_event(http_api_event("/prod/orders", value, "prod")).path == "/orders"
    unstaged = http_api_event("/prod/orders", value, "prod")
    unstaged["requestContext"]["stage"] = value
    assert parse_api_event(unstaged).path == "/prod/orders"  # answered 404, naming it


# -- the caller (issue 17 item 2) ---------------------------------------------------------

ANN = "arn:aws:iam::123456789012:user/ann"
BOB = "arn:aws:sts::123456789012:assumed-role/shop/bob"


def iam_event(principal, event=None):
    """``event`` (an HTTP API one by default) as API Gateway sends it after an AWS_IAM
    route authorized ``principal``."""
    event = event or v2_event(headers={"Idempotency-Key": "k-1"})
    authorizer = {"iam": {"accountId": "123456789012", "userArn": principal}}
    return {**event, "requestContext": {**event["requestContext"], "authorizer": authorizer}}


def jwt_event(subject, event=None):
    """... after a JWT authorizer accepted a token whose ``sub`` is ``subject``."""
    event = event or v2_event(headers={"Idempotency-Key": "k-1"})
    authorizer = {"jwt": {"claims": {"sub": subject, "iss": "https://id.example"}, "scopes": None}}
    return {**event, "requestContext": {**event["requestContext"], "authorizer": authorizer}}


def sent_by(event, auth):
    """What ``answer`` queues for ``event`` under ``auth``: the answer and the message."""
    sent = []
    result = answer(event, lambda message: sent.append(message) or "m-1", LIMIT, auth=auth)
    return result, sent


@pytest.mark.parametrize(
    ("auth", "event", "principal"),
    [
        ("iam", iam_event(ANN), ANN),
        ("iam", iam_event(BOB), BOB),
        # A REST API (payload 1.0) with AWS_IAM gives the caller's ARN in its identity.
        ("iam", {**v1_event(), "requestContext": {"identity": {"userArn": ANN}}}, ANN),
        ("jwt", jwt_event("user-123"), "user-123"),
        # A REST API's Cognito authorizer gives the claims in requestContext.authorizer.
        (
            "jwt",
            {**v1_event(), "requestContext": {"authorizer": {"claims": {"sub": "u-9"}}}},
            "u-9",
        ),
        ("none", iam_event(ANN), None),  # an anonymous API has no caller, whatever it says
    ],
    ids=["iam", "iam-assumed-role", "iam-rest-api", "jwt", "jwt-rest-api", "none"],
)
def test_the_principal_is_read_from_the_context_into_the_message_and_the_key(
    auth, event, principal
):
    result, (message,) = sent_by(event, auth)
    assert result["statusCode"] == 202
    row = parse_message(message.body)  # as the drain reads it back
    assert row.principal == principal == json.loads(message.body)["principal"]
    client_key = json.loads(message.body)["client_key"]
    assert row.idempotency_key == stored_key(ORDERS, row.values, client_key, principal)
    assert json.loads(result["body"])["stored_key"] == message.stored_key == row.idempotency_key


def test_one_key_from_two_callers_is_two_requests_and_from_one_caller_one():
    (_, (ann,)), (_, (bob,)) = sent_by(iam_event(ANN), "iam"), sent_by(iam_event(BOB), "iam")
    assert ann.stored_key != bob.stored_key
    assert ann.deduplication_id != bob.deduplication_id  # SQS does not drop Bob's as Ann's
    (_, (again,)) = sent_by(iam_event(ANN), "iam")
    assert (again.stored_key, again.deduplication_id) == (ann.stored_key, ann.deduplication_id)
    # The same text as an IAM ARN and as a JWT subject: the caller, whichever way it came.
    (_, (as_jwt,)) = sent_by(jwt_event(ANN), "jwt")
    assert as_jwt.stored_key == ann.stored_key


@pytest.mark.parametrize(
    ("auth", "event", "where"),
    [
        ("iam", v2_event(), "requestContext.authorizer.iam.userArn"),
        ("iam", jwt_event("user-123"), "requestContext.authorizer.iam.userArn"),
        ("iam", iam_event(""), "requestContext.authorizer.iam.userArn"),
        ("iam", iam_event(None), "requestContext.authorizer.iam.userArn"),
        (
            "iam",
            {**v2_event(), "requestContext": {"http": {"method": "POST"}, "authorizer": 7}},
            "iam.userArn",
        ),
        ("iam", v1_event(), "requestContext.authorizer.iam.userArn"),
        ("jwt", v2_event(), "requestContext.authorizer.jwt.claims.sub"),
        ("jwt", iam_event(ANN), "requestContext.authorizer.jwt.claims.sub"),
        ("jwt", jwt_event(["a"]), "requestContext.authorizer.jwt.claims.sub"),
    ],
    ids=[
        "none",
        "jwt-for-iam",
        "empty",
        "null",
        "not-an-object",
        "rest-api",
        "jwt-none",
        "iam-for-jwt",
        "list",
    ],
)
def test_without_a_principal_an_authenticated_api_refuses_the_request(auth, event, where):
    result, sent = sent_by(event, auth)
    assert sent == []
    assert result["statusCode"] == 403
    reply = json.loads(result["body"])
    assert reply["error"] == "forbidden"
    assert where in reply["message"] and f"requires {auth} authentication" in reply["message"]


def test_the_caller_is_refused_before_the_body_is_read():
    # No validation detail for a request that has no caller.
    result, sent = sent_by(v2_event(path="/nowhere", body=[1]), "iam")
    assert (result["statusCode"], sent) == (403, [])


@pytest.mark.parametrize(
    "principal",
    ["x" * 2049, "arn:aws:iam::123456789012:user/\uffff", "user\ud800"],
    ids=["too-long", "U+FFFF", "lone-surrogate"],
)
def test_a_principal_that_cannot_be_stored_is_refused_not_cut(principal):
    result, sent = sent_by(jwt_event(principal), "jwt")
    assert (result["statusCode"], sent) == (403, [])
    assert "cannot be stored as its principal" in json.loads(result["body"])["message"]
    longest = "x" * 2048
    result, (message,) = sent_by(jwt_event(longest), "jwt")
    assert parse_message(message.body).principal == longest


def test_an_unknown_auth_mode_is_an_error_not_an_anonymous_api():
    with pytest.raises(ValueError, match="API_AUTH must be one of iam, jwt, none, not 'IAM'"):
        answer(iam_event(ANN), sent_nowhere, LIMIT, auth="IAM")
