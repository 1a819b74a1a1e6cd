"""Target functions for the outbox tests, run by a runtime of the tests' own (imported by
its worker processes). Each answers the relay's batch contract and appends the ids of the
events it accepted to a file in ``OUTBOX_SINK_DIR``, so a test can count them."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def _sink(context) -> Path:
    return Path(os.environ["OUTBOX_SINK_DIR"]) / f"{context.function_name}.ids"


def _record(context, events) -> None:
    with _sink(context).open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write("".join(event["event_id"] + "\n" for event in events))


def accept(event, context):
    """Take every event of the batch."""
    _record(context, event["events"])
    return {"batchItemFailures": []}


def flaky(event, context):
    """Fail the whole invocation while ``<function>.failures`` holds a number above 0
    (taking one off each time), as a target whose downstream (SNS) is down would."""
    counter = Path(os.environ["OUTBOX_SINK_DIR"]) / f"{context.function_name}.failures"
    with counter.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        left = int(handle.read().strip() or 0)
        if left > 0:
            handle.seek(0)
            handle.truncate()
            handle.write(str(left - 1))
            raise RuntimeError(f"downstream unavailable ({left} failure(s) to go)")
    _record(context, event["events"])
    return {"batchItemFailures": []}


def delivered_ids(sink_dir: Path, function_name: str) -> list[str]:
    """The event ids ``function_name`` accepted, in order (with repeats, if any)."""
    path = Path(sink_dir) / f"{function_name}.ids"
    return path.read_text(encoding="utf-8").split() if path.exists() else []
