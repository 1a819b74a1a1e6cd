"""Turning a row event into an SES email (pure functions)."""

from __future__ import annotations

import json

from functions.common.events import RowEvent

EVENT_MARKER = "-- event (JSON) --"


_SUBJECTS = {"INSERT": "New row in", "UPDATE": "Row updated in", "DELETE": "Row deleted from"}
_OPENINGS = {
    "INSERT": "A row was inserted into",
    "UPDATE": "A row was updated in",
    "DELETE": "A row was deleted from",
}


def email_subject(event: RowEvent) -> str:
    return f"{_SUBJECTS[event.operation]} {event.table} ({event.primary_key_text()})"


def email_body(event: RowEvent) -> str:
    """A readable list of the row's values (an UPDATE's changed ones as ``before -> after``,
    a DELETE's as they were), then the event as JSON after a marker line."""
    lines = [f"{_OPENINGS[event.operation]} {event.database}.{event.table}.", ""]
    if event.operation == "UPDATE":
        changed = set(event.changed or ())
        for column, value in (event.after or {}).items():
            if column in changed:
                before = (event.before or {}).get(column)
                lines.append(f"{column}: {_display(before)} -> {_display(value)}")
            else:
                lines.append(f"{column}: {_display(value)} (unchanged)")
    else:
        lines += [f"{column}: {_display(value)}" for column, value in event.values.items()]
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
