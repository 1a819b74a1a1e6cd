"""Turning a row event into an SNS message (pure functions)."""

from __future__ import annotations

import json
import re

from functions.common.events import RowEvent

SUBJECT_LIMIT = 100  # SNS: at most 100 characters, ASCII, no line breaks
_NOT_SUBJECT_SAFE = re.compile(r"[^\x20-\x7e]")


_SUBJECT_VERBS = {"INSERT": "New", "UPDATE": "Updated", "DELETE": "Deleted"}


def notification_subject(event: RowEvent) -> str:
    """``New customer_feedback row id=5``, ``Updated orders row id=7 (status)`` (the
    changed columns), ``Deleted customers row id=3``; cut to what SNS accepts."""
    subject = f"{_SUBJECT_VERBS[event.operation]} {event.table} row {event.primary_key_text()}"
    if event.operation == "UPDATE":
        subject += f" ({', '.join(event.changed or ())})"
    return _NOT_SUBJECT_SAFE.sub("?", subject)[:SUBJECT_LIMIT]


def notification_message(event: RowEvent) -> str:
    """The whole event as JSON: subscribers get every value exactly as the database sent it."""
    return json.dumps(event.as_dict(), ensure_ascii=False, sort_keys=True)


def message_attributes(event: RowEvent) -> dict:
    """What a subscription's filter policy can match: table, operation, event id, and for
    an UPDATE the changed columns (``changed``, a String.Array: a policy
    ``{"changed": ["status"]}`` takes the updates that changed ``status``)."""
    attributes = {
        "table": {"DataType": "String", "StringValue": event.table},
        "operation": {"DataType": "String", "StringValue": event.operation},
        "event_id": {"DataType": "String", "StringValue": event.event_id},
    }
    if event.operation == "UPDATE":
        attributes["changed"] = {
            "DataType": "String.Array",
            "StringValue": json.dumps(list(event.changed or ()), ensure_ascii=False),
        }
    return attributes


def publish_request(event: RowEvent, topic_arn: str) -> dict:
    """Arguments for ``sns.publish``."""
    return {
        "TopicArn": topic_arn,
        "Subject": notification_subject(event),
        "Message": notification_message(event),
        "MessageAttributes": message_attributes(event),
    }


def batch_entry(event: RowEvent, entry_id: str) -> dict:
    """An entry of ``sns.publish_batch``: the same message as :func:`publish_request`."""
    request = publish_request(event, topic_arn="")
    del request["TopicArn"]
    return {"Id": entry_id, **request}
