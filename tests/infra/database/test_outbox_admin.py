"""What an operator asks of the outbox (``infra/database/outbox_admin.py``) against the
real server: the states ``status.sql`` counts are the contract's
(``functions/common/outbox_table.py``), and the parked events' errors are grouped by
target and error, the most common first."""

from datetime import datetime

from infra.cli import parked_error_lines
from infra.database.outbox_admin import ParkedErrors, outbox_status
from tests.functions.test_relay import add_events


def update(database, event_id: str, assignments: str, *values) -> None:
    """Set columns of one event's row (``assignments`` is SQL: the test's own text)."""
    with database.connect().cursor() as cursor:
        changed = cursor.execute(
            f"UPDATE aurora_events_outbox SET {assignments} WHERE event_id = %s",
            (*values, event_id),
        )
    assert changed == 1


def test_the_status_counts_the_contracts_row_states(outbox):
    ids = add_events(outbox, 9)
    update(outbox, ids[0], "delivered_at = UTC_TIMESTAMP(6)")
    update(outbox, ids[1], "delivered_at = UTC_TIMESTAMP(6)")
    # Both times set (no statement writes that; a hand-edited row might): delivered.
    update(outbox, ids[2], "delivered_at = UTC_TIMESTAMP(6), parked_at = UTC_TIMESTAMP(6)")
    update(outbox, ids[3], "parked_at = UTC_TIMESTAMP(6), last_error = 'refused'")
    update(outbox, ids[4], "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR")  # leased
    update(outbox, ids[5], "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR")
    update(outbox, ids[6], "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR")
    # ids[7], ids[8]: due since they were written
    status = outbox_status(outbox.connect())
    assert (status.due, status.in_flight_or_backing_off, status.parked, status.delivered) == (
        2,
        3,
        1,
        3,
    )
    assert status.waiting == 5  # neither delivered nor parked


def test_parked_errors_come_grouped_by_target_and_error_most_common_first(outbox):
    a = add_events(outbox, 6, targets=("arn:a",))
    b = add_events(outbox, 2, targets=("arn:b",))
    times = [datetime(2026, 5, 1, 10, minute) for minute in range(8)]
    parked = [
        (a[0], "timed out", times[0]),
        (a[1], "timed out", times[3]),
        (a[2], "timed out", times[1]),
        (a[3], "refused:\n  no such table", times[5]),
        (a[4], "refused:\n  no such table", times[2]),
        (b[0], "timed out", times[7]),  # another target: another group
    ]
    for event_id, error, at in parked:
        update(outbox, event_id, "parked_at = %s, last_error = %s", at, error)
    # Both times set: delivered, not among the parked.
    update(outbox, a[5], "parked_at = %s, last_error = 'timed out', delivered_at = %s", *times[6:8])

    status = outbox_status(outbox.connect(), error_groups=2)
    assert status.parked == 6
    assert status.parked_errors == (
        ParkedErrors("arn:a", "timed out", 3, times[3]),
        ParkedErrors("arn:a", "refused:\n  no such table", 2, times[5]),
    )
    assert parked_error_lines(status) == [
        "parked, by error (events, target, last parked, error):",
        "       3  arn:a  2026-05-01 10:03:00 UTC  timed out",
        "       2  arn:a  2026-05-01 10:05:00 UTC  refused: no such table",
        "       1  parked with other errors",
    ]
    assert outbox_status(outbox.connect()).parked_errors[2] == ParkedErrors(
        "arn:b", "timed out", 1, times[7]
    )


def test_no_parked_event_no_errors(outbox):
    add_events(outbox, 2)
    status = outbox_status(outbox.connect())
    assert (status.parked, status.parked_errors, parked_error_lines(status)) == (0, (), [])
