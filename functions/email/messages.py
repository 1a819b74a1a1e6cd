"""Turning a row event into an SES email (pure functions)."""

from __future__ import annotations

import json

from functions.common.events import RowEvent

EVENT_MARKER = "-- event (JSON) --"


def email_subject(event: RowEvent) -> str:
    return f"New row in {event.table} ({event.primary_key_text()})"


def email_body(event: RowEvent) -> str:
    """A readable list of the row's values, then the event as JSON after a marker line."""
    lines = [f"A row was inserted into {event.database}.{event.table}.", ""]
    lines += [f"{column}: {_display(value)}" for column, value in event.row.items()]
    lines += ["", EVENT_MARKER, json.dumps(event.as_dict(), ensure_ascii=False, sort_keys=True)]
    return "\n".join(lines)


def event_from_body(body: str) -> dict:
    """Read the event back out of an email body (for receivers and the demo)."""
    _, _, tail = body.rpartition(EVENT_MARKER + "\n")
    return json.loads(tail)


def recipients(setting: str) -> list[str]:
    """``EMAIL_TO`` is a comma-separated list of addresses."""
    addresses = [address.strip() for address in setting.split(",") if address.strip()]
    if not addresses:
        raise ValueError("EMAIL_TO names no address")
    return addresses


def send_request(event: RowEvent, sender: str, to: list[str]) -> dict:
    """Arguments for ``ses.send_email``."""
    return {
        "Source": sender,
        "Destination": {"ToAddresses": to},
        "Message": {
            "Subject": {"Data": email_subject(event), "Charset": "UTF-8"},
            "Body": {"Text": {"Data": email_body(event), "Charset": "UTF-8"}},
        },
    }


def _display(value) -> str:
    if value is None:
        return "(null)"
    if isinstance(value, str):
        return value if "\n" not in value else value.replace("\n", "\n    ")
    return json.dumps(value, ensure_ascii=False)
