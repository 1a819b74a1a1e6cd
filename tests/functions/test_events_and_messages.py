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
        ({"version": 3}, "unsupported event version 3"),
        ({"version": 2}, "field 'operation' must be one of \\('UPDATE', 'DELETE'\\)"),
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


# -- change events (schema version 2) ------------------------------------------------------

UPDATE = {
    **{k: v for k, v in EVENT.items() if k != "row"},
    "version": 2,
    "table": "orders",
    "operation": "UPDATE",
    "delivery": "outbox",
    "before": {"id": 5, "status": "paid", "note": None, "amount": "1.00"},
    "after": {"id": 5, "status": "shipped", "note": "Zoë 😀\nNew line", "amount": "1.00"},
    "changed": ["status", "note"],
}
DELETE = {
    **{k: v for k, v in UPDATE.items() if k not in ("after", "changed")},
    "operation": "DELETE",
}


@pytest.mark.parametrize(
    ("event", "change", "message"),
    [
        (UPDATE, {"version": 1}, "field 'operation' must be one of \\('INSERT',\\)"),
        (UPDATE, {"after": None}, "field 'after' must be an object"),
        (UPDATE, {"before": "x"}, "field 'before' must be an object"),
        (UPDATE, {"changed": "status"}, "field 'changed' must be a list"),
        (UPDATE, {"changed": [1]}, "field 'changed' must be a list"),
        (DELETE, {"before": None}, "field 'before' must be an object"),
        (DELETE, {"operation": "INSERT"}, "field 'operation' must be one of"),
    ],
)
def test_malformed_change_events_are_named(event, change, message):
    with pytest.raises(MalformedEvent, match=message):
        parse_row_event({**event, **change})


def test_change_events_parse_and_print_as_sent():
    update, delete = parse_row_event(UPDATE), parse_row_event(DELETE)
    assert update.as_dict() == UPDATE and delete.as_dict() == DELETE
    assert update.changed == ("status", "note") and update.values == UPDATE["after"]
    assert delete.values == DELETE["before"] and delete.after is None


def test_notify_names_the_operation_and_the_changed_columns():
    import json

    update = publish_request(parse_row_event(UPDATE), "arn:topic")
    assert update["Subject"] == "Updated orders row id=5 (status, note)"
    assert json.loads(update["Message"]) == UPDATE
    attributes = update["MessageAttributes"]
    assert attributes["operation"]["StringValue"] == "UPDATE"
    assert attributes["changed"] == {
        "DataType": "String.Array",
        "StringValue": '["status", "note"]',
    }
    delete = publish_request(parse_row_event(DELETE), "arn:topic")
    assert delete["Subject"] == "Deleted orders row id=5"
    assert "changed" not in delete["MessageAttributes"]
    assert json.loads(delete["Message"]) == DELETE


def test_email_shows_what_changed_and_what_was_deleted():
    update = send_request(parse_row_event(UPDATE), "from@example.com", ["to@example.com"])
    assert update["Message"]["Subject"]["Data"] == "Row updated in orders (id=5)"
    body = update["Message"]["Body"]["Text"]["Data"]
    assert body.splitlines()[:6] == [
        "A row was updated in shop.orders.",
        "",
        "id: 5 (unchanged)",
        "status: paid -> shipped",
        "note: (null) -> Zoë 😀",
        "    New line",
    ]
    assert event_from_body(body) == UPDATE
    delete = send_request(parse_row_event(DELETE), "from@example.com", ["to@example.com"])
    assert delete["Message"]["Subject"]["Data"] == "Row deleted from orders (id=5)"
    body = delete["Message"]["Body"]["Text"]["Data"]
    assert body.splitlines()[:4] == [
        "A row was deleted from shop.orders.",
        "",
        "id: 5",
        "status: paid",
    ]
    assert event_from_body(body) == DELETE
