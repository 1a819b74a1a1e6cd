"""The event schema's parser and the message builders (pure functions)."""

import pytest

from functions.common.events import MalformedEvent, parse_row_event
from functions.email.messages import email_body, event_from_body, recipients, send_request
from functions.notify.messages import notification_subject, publish_request

EVENT = {
    "version": 1,
    "event_id": "0b6b7c1e-0000-0000-0000-000000000001",
    "occurred_at": "2026-01-01T00:00:00.000000Z",
    "database": "shop",
    "table": "customer_feedback",
    "operation": "INSERT",
    "delivery": "direct",
    "primary_key": {"id": 5},
    "row": {"id": 5, "customer_name": "Zoë 😀\nNew line", "feedback": None},
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "unsupported event version 2"),
        ({"version": True}, "unsupported event version True"),
        ({"table": ""}, "field 'table' must be a non-empty string"),
        ({"event_id": 7}, "field 'event_id' must be a non-empty string"),
        ({"operation": "DELETE"}, "field 'operation' must be one of"),
        ({"delivery": "carrier pigeon"}, "field 'delivery' must be one of"),
        ({"row": [1, 2]}, "field 'row' must be an object"),
        ({"primary_key": {}}, "'primary_key' must name at least one column"),
    ],
)
def test_malformed_events_are_named(change, message):
    with pytest.raises(MalformedEvent, match=message):
        parse_row_event({**EVENT, **change})


def test_non_objects_and_bad_json_are_malformed():
    with pytest.raises(MalformedEvent, match="must be a JSON object, got list"):
        parse_row_event([EVENT])
    with pytest.raises(MalformedEvent, match="not JSON"):
        parse_row_event("{nope")


def test_subject_is_ascii_single_line_and_short():
    event = parse_row_event({**EVENT, "table": "t" * 120, "primary_key": {"name": "Zoë\n"}})
    subject = notification_subject(event)
    assert len(subject) == 100
    assert subject.isascii() and "\n" not in subject


def test_sns_message_is_the_whole_event():
    request = publish_request(parse_row_event(EVENT), "arn:topic")
    import json

    assert json.loads(request["Message"]) == EVENT
    assert request["Subject"] == "New customer_feedback row id=5"
    assert request["MessageAttributes"]["table"]["StringValue"] == "customer_feedback"


def test_email_body_is_readable_and_carries_the_exact_event():
    event = parse_row_event(EVENT)
    body = email_body(event)
    assert "customer_name: Zoë 😀\n    New line" in body
    assert "feedback: (null)" in body
    assert event_from_body(body) == EVENT
    request = send_request(event, "from@example.com", ["a@example.com"])
    assert request["Message"]["Subject"]["Data"] == "New row in customer_feedback (id=5)"


def test_recipients_are_a_comma_separated_list():
    assert recipients(" a@example.com, b@example.com ,") == ["a@example.com", "b@example.com"]
    with pytest.raises(ValueError, match="EMAIL_TO names no address"):
        recipients(" , ")
