"""Running work in threads so that a failure cannot hide: every thread must end within the
timeout and return, and an exception in one is raised in the test, not printed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any


def run_threads(work: Sequence[Callable[[], Any]], timeout: float) -> list[Any]:
    """Run each callable in a thread of its own; their results in order.

    Fails the test when a thread is still running after ``timeout`` seconds (all threads
    share one deadline), and re-raises the first exception a thread raised."""
    results: list[Any] = [None] * len(work)
    errors: list[BaseException | None] = [None] * len(work)

    def runner(index: int, job: Callable[[], Any]) -> None:
        try:
            results[index] = job()
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            errors[index] = error

    threads = [
        threading.Thread(target=runner, args=(index, job), daemon=True)
        for index, job in enumerate(work)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    alive = [index for index, thread in enumerate(threads) if thread.is_alive()]
    if alive:
        raise AssertionError(f"thread(s) {alive} still running after {timeout} s")
    for error in errors:
        if error is not None:
            raise error
    return results
