"""The outbox relay against the real server: order, exactly-once marking, retries with
backoff, parking, concurrent relays, a relay that dies mid-batch, and the purge. The
targets are in-process stand-ins for the functions (the relay's ``invoke`` is injected)."""

import json
import threading
import time
import uuid

import pytest

from functions.common.event_batches import BatchAnswer
from functions.relay.delivery import RelaySettings
from functions.relay.outbox import OutboxStore, supports_skip_locked
from functions.relay.runs import run_relay
from tests.threads import run_threads

FAST = RelaySettings(
    events_per_invocation=10,
    lease_seconds=0.5,
    target_connect_timeout_seconds=0.05,
    target_timeout_seconds=0.1,
    max_attempts=3,
)


def add_events(database, count: int, targets=("arn:target-a", "arn:target-b")) -> list[str]:
    """``count`` events, alternating targets; their ids in sequence order."""
    ids, rows = [], []
    for n in range(count):
        event_id = str(uuid.uuid4())
        ids.append(event_id)
        payload = json.dumps({"event_id": event_id, "n": n})
        rows.append((event_id, targets[n % len(targets)], payload))
    with database.connect().cursor() as cursor:
        cursor.executemany(
            "INSERT INTO aurora_events_outbox (event_id, target_function, payload, created_at, "
            "next_attempt_at) VALUES (%s, %s, %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            rows,
        )
    return ids


def table(database) -> list[dict]:
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT event_id, attempts, delivered_at IS NOT NULL, parked_at IS NOT NULL, "
            "last_error, next_attempt_at > UTC_TIMESTAMP(6) FROM aurora_events_outbox "
            "ORDER BY sequence"
        )
        keys = ("event_id", "attempts", "delivered", "parked", "last_error", "waiting")
        return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


class Targets:
    """Records every invocation; answers per event with ``behaviour(target, event)``:
    None (delivered), "fail" or "reject"."""

    def __init__(self, behaviour=lambda target, event: None):
        self.behaviour = behaviour
        self.calls: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    def __call__(self, target, events):
        with self.lock:
            self.calls.append((target, [event["event_id"] for event in events]))
        answer = BatchAnswer()
        for event in events:
            verdict = self.behaviour(target, event)
            if verdict == "fail":
                answer.failed[event["event_id"]] = "boom"
            elif verdict == "reject":
                answer.rejected[event["event_id"]] = "no such table in this schema"
        return answer.as_dict()

    def sent(self) -> list[str]:
        return [event_id for _, ids in self.calls for event_id in ids]


def store(database) -> OutboxStore:
    return OutboxStore(database.connect())


def test_due_events_reach_their_targets_in_order_in_batches_and_are_marked(outbox):
    ids = add_events(outbox, 25)
    targets = Targets()
    summary = run_relay(store(outbox), targets, FAST)
    assert (summary.claimed, summary.delivered, summary.invocations) == (25, 25, 4)
    assert [(target, len(batch)) for target, batch in targets.calls] == [
        ("arn:target-a", 10),
        ("arn:target-a", 3),
        ("arn:target-b", 10),
        ("arn:target-b", 2),
    ]
    assert targets.sent() == ids[0::2] + ids[1::2]  # each target's events in sequence order
    assert all(row["delivered"] and row["attempts"] == 1 for row in table(outbox))
    assert run_relay(store(outbox), targets, FAST).claimed == 0  # nothing twice


def test_no_invocation_starts_that_could_end_after_the_rows_lease(outbox):
    """Slow targets: each call takes 35 s of a 100 s lease, and a call may wait 45 s (5 s
    to connect, 40 s for the answer). The third batch is not sent under the first claim
    (its answer could come after another relay re-claimed the rows): it is released, due
    at once with no attempt used, and the next claim of the same run sends it."""
    ids = add_events(outbox, 30, targets=("arn:slow",))
    now = [0.0]
    targets = Targets()

    def slow(target, events):
        now[0] += 35
        return targets(target, events)

    settings = RelaySettings(
        events_per_invocation=10,
        lease_seconds=100,
        target_connect_timeout_seconds=5,
        target_timeout_seconds=40,
    )
    summary = run_relay(store(outbox), slow, settings, clock=lambda: now[0])
    assert (summary.claimed, summary.released, summary.delivered) == (40, 10, 30)
    assert summary.invocations == 3 and summary.lease_lost == 0
    assert targets.sent() == ids  # in order, each once
    assert all(row["delivered"] and row["attempts"] == 1 for row in table(outbox))


def test_a_relay_whose_lease_is_too_short_for_one_call_releases_and_stops(outbox):
    """A claim that took so long that no call fits in what is left of its lease: the rows
    are released, nothing is sent, and the run ends rather than claim them again at once."""
    add_events(outbox, 3, targets=("arn:target-a",))
    now = [0.0]

    def slow_clock():
        now[0] += 0.4  # every reading of the clock: the claim itself eats the lease
        return now[0]

    targets = Targets()
    summary = run_relay(store(outbox), targets, FAST, clock=slow_clock)
    assert (summary.claimed, summary.released, summary.invocations) == (3, 3, 0)
    assert targets.calls == []
    assert [(r["attempts"], r["waiting"], r["last_error"]) for r in table(outbox)] == [
        (0, 0, None)
    ] * 3


def test_a_failing_target_is_retried_with_backoff_then_the_event_is_parked(outbox):
    add_events(outbox, 2)
    failing = Targets(lambda target, event: "fail" if target == "arn:target-a" else None)
    summary = run_relay(store(outbox), failing, FAST)
    assert (summary.delivered, summary.retried, summary.parked) == (1, 1, 0)
    first, second = table(outbox)
    assert first == {
        "event_id": first["event_id"],
        "attempts": 1,
        "delivered": 0,
        "parked": 0,
        "last_error": "reported as failed by the target: boom",
        "waiting": 1,  # the backoff: not due again at once
    }
    assert second["delivered"] == 1
    for attempt in (2, 3):
        with outbox.connect().cursor() as cursor:
            cursor.execute("UPDATE aurora_events_outbox SET next_attempt_at = UTC_TIMESTAMP(6)")
        run_relay(store(outbox), failing, FAST)
        assert table(outbox)[0]["attempts"] == attempt
    parked = table(outbox)[0]
    assert (parked["parked"], parked["delivered"]) == (1, 0)
    assert parked["last_error"] == "reported as failed by the target: boom (after 3 attempts)"
    assert run_relay(store(outbox), failing, FAST).claimed == 0  # parked: left alone


def test_an_event_its_target_rejects_is_parked_at_once_with_the_reason(outbox):
    add_events(outbox, 1)
    run_relay(store(outbox), Targets(lambda target, event: "reject"), FAST)
    (row,) = table(outbox)
    assert (row["parked"], row["attempts"]) == (1, 1)
    assert row["last_error"] == "rejected by the target: no such table in this schema"


@pytest.mark.parametrize(
    ("invoke", "error"),
    [
        (lambda target, events: {"status": "rejected"}, "the target did not answer a batch"),
        (
            lambda target, events: {"batchItemFailures": [{"itemIdentifier": "someone-else"}]},
            "the target named an event not in the batch: 'someone-else'",
        ),
        (
            lambda target, events: (_ for _ in ()).throw(TimeoutError("read timed out")),
            "TimeoutError: read timed out",
        ),
    ],
    ids=["single-event-answer", "unknown-event-id", "invocation-raised"],
)
def test_an_unreadable_answer_or_a_failed_invocation_retries_the_whole_batch(outbox, invoke, error):
    add_events(outbox, 3, targets=("arn:target-a",))
    summary = run_relay(store(outbox), invoke, FAST)
    assert (summary.delivered, summary.retried) == (0, 3)
    rows = table(outbox)
    assert {row["last_error"][: len(error)] for row in rows} == {error}
    assert all(row["waiting"] and not row["delivered"] for row in rows)


def test_two_relays_at_once_send_no_event_twice_and_miss_none(outbox):
    ids = add_events(outbox, 5000)
    targets = Targets()
    settings = RelaySettings(
        claim_size=100,
        events_per_invocation=50,
        lease_seconds=30,
        target_connect_timeout_seconds=1,
        target_timeout_seconds=10,
    )
    # Each relay must end and return its summary: an exception in either fails the test.
    summaries = run_threads([lambda: run_relay(store(outbox), targets, settings)] * 2, 120)
    sent = targets.sent()
    assert len(sent) == 5000 and set(sent) == set(ids)  # none twice, none missed
    assert len(summaries) == 2 and all(summary.claimed > 0 for summary in summaries)
    assert sum(summary.delivered for summary in summaries) == 5000
    assert all(summary.lease_lost == 0 for summary in summaries)
    assert sum(row["delivered"] for row in table(outbox)) == 5000


def test_a_relay_that_dies_mid_batch_leaves_its_events_to_the_next_one(outbox):
    ids = add_events(outbox, 30)
    dying = store(outbox)
    claimed = dying.claim(20, 0.5, max_bytes=10**9, max_event_bytes=10**9)
    dying.connection.close()  # ... dies before sending or recording anything
    assert [row.event_id for row in claimed.rows] == ids[:20]
    targets = Targets()
    first = run_relay(store(outbox), targets, FAST)
    assert first.delivered == 10  # the leased 20 are not due yet
    time.sleep(0.6)
    run_relay(store(outbox), targets, FAST)
    assert sorted(targets.sent()) == sorted(ids)  # every event, with its own id
    rows = table(outbox)
    assert all(row["delivered"] for row in rows)
    assert [row["attempts"] for row in rows] == [1] * 30  # the dead claim sent nothing


def test_after_a_doorbell_the_relay_keeps_looking_for_a_late_commit(outbox):
    targets = Targets()
    late = threading.Timer(0.3, lambda: add_events(outbox, 1))
    late.start()
    summary = run_relay(store(outbox), targets, FAST, linger_seconds=1.5)
    late.join()
    assert summary.delivered == 1


def test_delivered_rows_are_purged_after_the_retention_in_small_batches(outbox):
    add_events(outbox, 12)
    run_relay(store(outbox), Targets(), FAST)
    add_events(outbox, 2)  # pending: never purged
    with outbox.connect().cursor() as cursor:
        cursor.execute(
            "UPDATE aurora_events_outbox SET delivered_at = UTC_TIMESTAMP(6) - INTERVAL 2 DAY "
            "WHERE delivered_at IS NOT NULL"
        )
    settings = RelaySettings(retention_seconds=86400, purge_batch=5)
    stuck = Targets(lambda target, event: "fail")
    assert run_relay(store(outbox), stuck, settings).purged == 5
    assert run_relay(store(outbox), stuck, settings).purged == 5
    assert run_relay(store(outbox), stuck, settings).purged == 2
    rows = table(outbox)
    assert len(rows) == 2 and not any(row["delivered"] for row in rows)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("8.0.28", True),
        ("8.0.0", False),
        ("5.7.12", False),
        ("10.11.19-MariaDB-0+deb12u1", True),
        ("10.5.2-MariaDB", False),
    ],
)
def test_skip_locked_support_by_server_version(version, expected):
    assert supports_skip_locked(version) is expected


def test_without_skip_locked_one_relay_at_a_time_under_a_named_lock(outbox):
    first, second = store(outbox), store(outbox)
    first.skip_locked = second.skip_locked = False  # as on Aurora v2
    add_events(outbox, 3)
    assert first.exclusive()
    assert run_relay(second, Targets(), FAST).skipped
    first.release_lock()
    summary = run_relay(second, Targets(), FAST)
    assert (summary.skipped, summary.delivered) == (False, 3)


def test_status_counts_waiting_parked_and_delivered_and_the_oldest_age(outbox):
    from infra.database.outbox_admin import outbox_status

    assert outbox_status(outbox.connect()).oldest_waiting_seconds is None
    add_events(outbox, 4, targets=("arn:target-a", "arn:target-b"))
    run_relay(store(outbox), Targets(lambda t, e: "reject" if t == "arn:target-a" else None), FAST)
    add_events(outbox, 3)
    with outbox.connect().cursor() as cursor:
        cursor.execute(
            "UPDATE aurora_events_outbox SET created_at = UTC_TIMESTAMP(6) - INTERVAL 90 SECOND "
            "WHERE delivered_at IS NULL AND parked_at IS NULL"
        )
    status = outbox_status(outbox.connect())
    assert (status.due, status.parked, status.delivered) == (3, 2, 2)
    assert 90 <= status.oldest_waiting_seconds < 120


def test_replay_sends_parked_or_chosen_events_again_with_their_ids(outbox):
    from infra.database.outbox_admin import replay_events

    ids = add_events(outbox, 4)
    run_relay(store(outbox), Targets(lambda t, e: "reject" if e["n"] < 2 else None), FAST)
    connection = outbox.connect()
    assert replay_events(connection, since="2000-01-01", parked_only=True) == 2
    again = Targets()
    run_relay(store(outbox), again, FAST)
    assert sorted(again.sent()) == sorted(ids[:2])  # the parked two, same ids
    assert replay_events(connection, event_ids=[ids[3]]) == 1  # a delivered one, by id
    once_more = Targets()
    run_relay(store(outbox), once_more, FAST)
    assert once_more.sent() == [ids[3]]
    with pytest.raises(ValueError, match="not both"):
        replay_events(connection, event_ids=[ids[0]], since="2000-01-01")
    assert all(row["delivered"] for row in table(outbox))
