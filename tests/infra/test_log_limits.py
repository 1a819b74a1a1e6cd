"""What the local runtime's pollers log of the errors they keep going past: each kind at
once, then at most once a minute, with the count held back in between."""

from __future__ import annotations

import logging

import pymysql
import pytest

from infra.local.db_server import free_port
from infra.local.log_limits import OncePerInterval, error_class, log_swallowed


def refused() -> pymysql.err.OperationalError:
    """A real error: connecting to a port nobody listens on (2003)."""
    with pytest.raises(pymysql.err.OperationalError) as caught:
        pymysql.connect(host="127.0.0.1", port=free_port(), user="x", connect_timeout=2)
    return caught.value


def own_records(caplog) -> list[logging.LogRecord]:
    """This test's records: caplog also catches the session stack's threads (its scheduled
    relay logs too), which are not the test's."""
    return [record for record in caplog.records if record.name == "test_log_limits"]


def test_the_first_of_a_kind_is_logged_then_one_a_minute_with_the_count_held_back():
    limiter = OncePerInterval(interval=60)
    assert limiter.admit("restart", now=1000.0) == 0
    assert [limiter.admit("restart", now=1000.0 + s) for s in (0.5, 1, 59.9)] == [None] * 3
    assert limiter.admit("restart", now=1060.0) == 3
    assert limiter.admit("restart", now=1060.5) is None
    assert limiter.admit("restart", now=1200.0) == 1


def test_kinds_are_counted_apart():
    limiter = OncePerInterval(interval=60)
    assert limiter.admit("a", now=0.0) == 0
    assert limiter.admit("b", now=1.0) == 0  # another kind: not held back by the first
    assert limiter.admit("a", now=2.0) is None
    assert limiter.admit("b", now=61.0) == 0  # nothing of b was held back
    assert limiter.admit("a", now=61.0) == 1


def test_an_errors_kind_is_its_type_and_database_code():
    assert error_class(refused()) == ("OperationalError", 2003)
    assert error_class(ValueError("x")) == ("ValueError", None)


def test_a_repeated_error_is_logged_once_and_another_kind_at_once(caplog):
    log = logging.getLogger("test_log_limits")
    limiter = OncePerInterval()
    error = refused()
    with caplog.at_level(logging.WARNING, logger="test_log_limits"):
        logged = [log_swallowed(log, limiter, error, "poll of %s failed", "q") for _ in range(5)]
        assert log_swallowed(log, limiter, KeyError("k"), "poll of %s failed", "q")
        assert log_swallowed(log, limiter, error, "record failed")  # another message
    assert logged == [True, False, False, False, False]
    messages = [record.getMessage() for record in own_records(caplog)]
    assert len(messages) == 3
    assert messages[0].startswith("poll of q failed: OperationalError: (2003, ")
    assert messages[1] == "poll of q failed: KeyError: 'k'"
    assert messages[2].startswith("record failed: OperationalError: (2003, ")


def test_the_next_report_counts_what_was_held_back(caplog):
    log = logging.getLogger("test_log_limits")
    limiter, error = OncePerInterval(interval=60), refused()
    with caplog.at_level(logging.WARNING, logger="test_log_limits"):
        for now in (0.0, 1.0, 2.0, 61.0):
            log_swallowed(log, limiter, error, "event poll failed", now=now)
    records = own_records(caplog)
    assert len(records) == 2
    assert records[1].getMessage().endswith(" (and 2 more of these since the last report)")
