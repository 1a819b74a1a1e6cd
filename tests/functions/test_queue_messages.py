"""The queue message: built by the ingest function, read back by the drain."""

import json
from datetime import UTC, datetime

import pytest

from functions.common.queue_messages import (
    MESSAGE_VERSION,
    MalformedMessage,
    message_body,
    parse_message,
)
from functions.common.resources import resource_named
from functions.ingest.requests import build_message, parse_api_event
from tests.functions.test_ingest_requests import LIMIT, v1_event


def test_the_body_is_compact_utf8_json_with_its_fields_in_order():
    customer = {"email": "a@b.co", "name": 'Ünï "q" 😀', "phone": None}
    received = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    body = message_body(resource_named("customers"), "k-1", "r-1", customer, received)
    assert body == (
        '{"version":1,"resource":"customers","idempotency_key":"k-1","request_id":"r-1",'
        '"received_at":"2024-05-06T07:08:09.123456Z",'
        '"data":{"email":"a@b.co","name":"Ünï \\"q\\" 😀","phone":null}}'
    )
    assert json.loads(body)["version"] == MESSAGE_VERSION
    assert parse_message(body).column_values() == ["a@b.co", 'Ünï "q" 😀', None, "k-1"]


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
