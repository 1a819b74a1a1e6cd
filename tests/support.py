"""Helpers for tests: waiting for the local runtime, reading what the emulation recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from infra.local import emulation


def wait_for(condition: Callable[[], object], timeout: float = 20, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")


def invocation_rows(admin, database: str) -> list[dict]:
    """The emulation's records of Event calls made from ``database``, oldest first."""
    return emulation.event_calls_from(admin, database)


def settled_invocations(admin, database: str, expected: int, timeout: float = 30) -> list[dict]:
    """Wait until ``expected`` calls from ``database`` are recorded and none is still due."""

    def done():
        rows = invocation_rows(admin, database)
        finished = all(row["status"] in ("succeeded", "failed") for row in rows)
        return rows if len(rows) >= expected and finished else None

    return wait_for(done, timeout)


def payloads(rows: list[dict]) -> list[dict]:
    return [json.loads(row["payload"]) for row in rows]
