"""The ingest function's pure part: events in, messages and answers out."""

import base64
import hashlib
import json

import pytest

from functions.common.resources import message_group_id, resource_named
from functions.drain.rows import MalformedMessage, insert_statement, parse_message
from functions.ingest.requests import RequestError, build_message, parse_api_event

LIMIT = 262_144
ORDER = {"customer_id": 7, "amount": "12.5", "currency": "USD"}


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
    assert body["resource"] == "orders" and body["idempotency_key"] == "k-1"
    assert one.deduplication_id == hashlib.sha256(b"orders:k-1").hexdigest()


def test_without_a_key_the_documented_request_hash_is_the_key():
    message = build_message(
        parse_api_event(v1_event(body='{ "currency":"USD", "amount":"12.5", "customer_id":7 }')),
        LIMIT,
    )
    canonical = '{"amount":"12.5","currency":"USD","customer_id":7}'
    expected = hashlib.sha256(f"POST /orders\n{canonical}".encode()).hexdigest()
    assert message.idempotency_key == "sha256:" + expected
    again = build_message(parse_api_event(v1_event()), LIMIT)  # same body, other spacing
    assert again.idempotency_key == message.idempotency_key


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
            "field 'amount' must be above 0",
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
            "field 'name' contains an invalid unicode surrogate",
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


def test_drain_rereads_messages_and_names_what_is_wrong():
    good = build_message(parse_api_event(v1_event(headers={"Idempotency-Key": "k"})), LIMIT)
    row = parse_message(good.body)
    assert row.column_values() == [7, "12.50", "USD", "k"]
    for body, message in [
        ("nope", "message is not JSON"),
        ('{"version": 9}', "unsupported message version 9"),
        ('{"version": 1, "resource": "orders", "data": {}}', "no idempotency_key"),
        ('{"version": 1, "resource": "x", "idempotency_key": "k", "data": {}}', "unknown resource"),
    ]:
        with pytest.raises(MalformedMessage, match=message):
            parse_message(body)


def test_insert_statement_has_one_placeholder_per_value_and_is_idempotent():
    statement = insert_statement(resource_named("orders"), 2)
    assert statement.count("%s") == 8
    assert (
        "INSERT INTO `orders` (`customer_id`, `amount`, `currency`, `idempotency_key`)" in statement
    )
    assert statement.endswith("VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)")
