"""Handlers the tests deploy on the local runtime (imported by its worker processes)."""

import json
import time


def echo(event, context):
    return {"echo": event, "function": context.function_name}


def echo_http(event, context):
    """An API Gateway proxy answer whose body is the event received."""
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(event),
    }


def always_fails(event, context):
    raise RuntimeError(f"boom: {event!r}")


def sleeps(event, context):
    time.sleep(5)
    return "too late"
