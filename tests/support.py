"""Helpers for tests: waiting for the local runtime, reading what the emulation recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from infra.local import emulation
from infra.local.lambda_worker import LambdaContext


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


class FakeClock:
    """Seconds that pass only when a test says so: ``clock()`` reads, ``advance`` moves."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ClockedContext(LambdaContext):
    """A Lambda context of ``timeout`` seconds, started now, whose remaining time reads
    ``clock``."""

    def __init__(self, clock: FakeClock, timeout: float, function_name: str = "t") -> None:
        super().__init__(function_name, f"arn:{function_name}", timeout, 256, "r")
        self.clock, self.ends_at = clock, clock() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends_at - self.clock()) * 1000))


def most_doorbells(statement_seconds: float) -> int:
    """The most doorbells one connection's statement may ring: the trigger rings at most
    once a second per connection, so once per second the statement ran, started or not.
    A bound from the statement's own measured time, so a slow machine widens it honestly
    rather than failing a count tuned to a fast one."""
    return int(statement_seconds) + 1
