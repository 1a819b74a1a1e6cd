"""The queue message: built by the ingest function, read back by the drain."""

import json
from datetime import UTC, datetime

import pytest

from functions.common.queue_messages import (
    MESSAGE_VERSION,
    MalformedMessage,
    message_body,
    parse_message,
    queued_row,
)
from functions.common.resources import body_hash, resource_named, stored_key
from functions.ingest.requests import build_message, parse_api_event
from tests.functions.test_ingest_requests import LIMIT, v1_event


def test_the_body_is_compact_utf8_json_with_its_fields_in_order():
    customer = {"email": "a@b.co", "name": 'Ünï "q" 😀', "phone": None}
    received = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    customers = resource_named("customers")
    body = message_body(queued_row(customers, customer, "k-1", None, "r-1"), received)
    key, digest = stored_key(customers, customer, "k-1", None), body_hash(customer)
    assert body == (
        '{"version":2,"resource":"customers","principal":null,"client_key":"k-1",'
        f'"idempotency_key":"{key}","body_hash":"{digest}","request_id":"r-1",'
        '"received_at":"2024-05-06T07:08:09.123456Z",'
        '"data":{"email":"a@b.co","name":"Ünï \\"q\\" 😀","phone":null}}'
    )
    assert json.loads(body)["version"] == MESSAGE_VERSION
    assert parse_message(body).column_values() == ["a@b.co", 'Ünï "q" 😀', None, key, digest]


def test_a_version_1_message_is_read_under_its_key_as_sent():
    body = (
        '{"version":1,"resource":"orders","idempotency_key":"k-1","request_id":"r-1",'
        '"received_at":"2024-05-06T07:08:09.123456Z",'
        '"data":{"customer_id":7,"amount":"1.00","currency":"USD"}}'
    )
    row = parse_message(body, "m-1")
    assert (row.idempotency_key, row.client_key, row.message_id) == ("k-1", None, "m-1")


def test_a_message_whose_key_or_hash_disagrees_with_its_data_is_refused():
    good = build_message(parse_api_event(v1_event(headers={"Idempotency-Key": "k"})), LIMIT)
    for field, value in [("idempotency_key", "k"), ("body_hash", "0" * 64), ("client_key", "j")]:
        message = {**json.loads(good.body), field: value}
        with pytest.raises(MalformedMessage, match="does not match its data"):
            parse_message(json.dumps(message))


def test_drain_rereads_messages_and_names_what_is_wrong():
    good = build_message(parse_api_event(v1_event(headers={"Idempotency-Key": "k"})), LIMIT)
    row = parse_message(good.body)
    assert row.column_values() == [7, "12.50", "USD", good.stored_key, row.body_hash]
    assert row.client_key == "k" and row.principal is None
    for body, message in [
        ("nope", "message is not JSON"),
        ('{"version": 9}', "unsupported message version 9"),
        ('{"version": 1, "resource": "orders", "data": {}}', "no idempotency_key"),
        ('{"version": 1, "resource": "x", "idempotency_key": "k", "data": {}}', "unknown resource"),
    ]:
        with pytest.raises(MalformedMessage, match=message):
            parse_message(body)
