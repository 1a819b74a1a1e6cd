"""Timing helpers shared by the measurements."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_of(action: Callable[[], object], rounds: int) -> float:
    """The median of ``rounds`` timings of ``action``."""
    return statistics.median(timed(action) for _ in range(rounds))
