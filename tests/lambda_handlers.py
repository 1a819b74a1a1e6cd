"""Handlers the tests deploy on the local runtime (imported by its worker processes)."""

import time


def echo(event, context):
    return {"echo": event, "function": context.function_name}


def always_fails(event, context):
    raise RuntimeError(f"boom: {event!r}")


def sleeps(event, context):
    time.sleep(5)
    return "too late"
