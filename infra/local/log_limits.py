"""Logging the errors a loop keeps going past, without flooding the log.

The local runtime's pollers retry on every database error (a server restarting is
normal in the tests), twice a second or more. Each kind of error is logged at once, then
at most once a minute, with the count of those held back: so a restart is one line, and
an error that should not happen (a syntax error, a missing table) is not hidden.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Hashable

import pymysql

LOG_INTERVAL_SECONDS = 60.0


def error_class(error: BaseException) -> tuple[str, object]:
    """What an error is counted under: its type and, for a database error, its code
    (2003 "can't connect" and 1146 "no such table" are different stories)."""
    code = None
    if isinstance(error, pymysql.err.MySQLError) and error.args:
        code = error.args[0]
    return (type(error).__name__, code)


class OncePerInterval:
    """Which occurrences to log: the first of each key, then at most one per ``interval``
    seconds. Pure but for its memory: the time is given, never read."""

    def __init__(self, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._logged_at: dict[Hashable, float] = {}
        self._held_back: Counter[Hashable] = Counter()
        self._lock = threading.Lock()  # one limiter may serve several threads

    def admit(self, key: Hashable, now: float) -> int | None:
        """``None`` when this occurrence of ``key`` is held back (and counted); otherwise
        log it, with the returned number of occurrences held back since the last one."""
        with self._lock:
            last = self._logged_at.get(key)
            if last is not None and now - last < self.interval:
                self._held_back[key] += 1
                return None
            self._logged_at[key] = now
            return self._held_back.pop(key, 0)


def log_swallowed(
    logger: logging.Logger,
    limiter: OncePerInterval,
    error: BaseException,
    message: str,
    *args: object,
    traceback: bool = False,
    now: float | None = None,
) -> bool:
    """Log ``message % args`` and ``error`` unless ``limiter`` holds this error back (one
    limiter may serve several messages: each message's error classes are counted apart);
    True when logged. ``now``: the monotonic clock's time, read if not given."""
    now = time.monotonic() if now is None else now
    held_back = limiter.admit((message, *error_class(error)), now)
    if held_back is None:
        return False
    since = f" (and {held_back} more of these since the last report)" if held_back else ""
    logger.warning(
        f"{message}: %s: %s{since}",
        *args,
        type(error).__name__,
        error,
        exc_info=error if traceback else None,
    )
    return True
