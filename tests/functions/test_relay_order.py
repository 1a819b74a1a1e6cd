"""Per-row order on an ordered outbox (revision 0008's ``ordering_key``), on the real
server: a claim takes a key's followers with its head and sends them in waves, in order,
in one run; a failed event holds back its row's later events (its claimed followers wait
for its retry) and no other row's; parking releases the row in the same run (and
``aurora-events outbox`` shows both); followers of a head another relay leased are held,
not leased, and made due when that relay delivers the head; the claim's second look
closes the snapshot race; events without a key go as before; the claim, the second look
and the promotion read index ranges; 200 rows × 20 events written by 8 connections while
two relays run, with 10% of first attempts failing, and a hot backlog of 20 rows × 30
events, arrive in each row's order, none lost or twice."""

from __future__ import annotations

import functools
import json
import logging
import queue
import random
import re
import threading
import time
import uuid
from dataclasses import replace

import pymysql
import pytest

import sql
from functions.common.database import connect, parse_database_url
from functions.common.event_batches import BatchAnswer
from functions.common.ordering_key import ordering_key
from functions.relay import outbox as outbox_module
from functions.relay.delivery import RelaySettings, finished_keys
from functions.relay.outbox import (
    OutboxStore,
    all_waiting_claimed,
    claim_statement,
    for_sequences,
)
from functions.relay.runs import ClaimDelivery, RunSummary, run_relay
from infra.cli import main
from tests.functions.test_relay import Targets, table
from tests.threads import run_threads

BIG = 10**9
# A failed event waits a minute: long enough to see what it holds back.
SLOW_RETRY = RelaySettings(lease_seconds=60, target_timeout_seconds=10, backoff_base_seconds=60)


def add_keyed(connection, events) -> list[tuple[int, str]]:
    """Outbox rows as a trigger writes them: ``events`` of (key or None, target, fields),
    due now, in this order; their (sequence, event_id)."""
    written = []
    with connection.cursor() as cursor:
        for key, target, fields in events:
            event_id = str(uuid.uuid4())
            payload = json.dumps({"event_id": event_id, **fields})
            cursor.execute(
                "INSERT INTO aurora_events_outbox (event_id, target_function, payload, "
                "created_at, next_attempt_at, ordering_key) "
                "VALUES (%s, %s, %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), %s)",
                (event_id, target, payload, key),
            )
            written.append((cursor.lastrowid, event_id))
    connection.commit()
    return written


def key(row_id) -> bytes:
    return ordering_key("things", [row_id])


def ids(written) -> list[str]:
    return [event_id for _, event_id in written]


def test_a_claim_takes_a_keys_followers_with_its_head(ordered_outbox):
    connection = ordered_outbox.connect()
    written = add_keyed(
        connection,
        [
            (key(1), "arn:a", {"n": 0}),
            (key(2), "arn:a", {"n": 1}),
            (key(1), "arn:a", {"n": 2}),  # after n=0
            (None, "arn:a", {"n": 3}),
            (key(1), "arn:b", {"n": 4}),  # another target: its own order
            (None, "arn:a", {"n": 5}),
            (key(2), "arn:a", {"n": 6}),  # after n=1
            (key(1), "arn:b", {"n": 7}),  # after n=4
        ],
    )
    claim = OutboxStore(ordered_outbox.connect()).claim(100, 30, BIG, BIG)
    assert [row.event_id for row in claim.rows] == ids(written)
    assert claim.held == 0
    assert [row.ordering_key for row in claim.rows] == [
        key(1),
        key(2),
        key(1),
        None,
        key(1),
        None,
        key(2),
        key(1),
    ]
    assert OutboxStore(ordered_outbox.connect()).claim(100, 30, BIG, BIG) is None


def test_a_claims_events_of_one_key_go_in_waves_in_order_in_one_run(ordered_outbox):
    """3 rows × 4 events and 2 unkeyed, one claim: each invocation holds at most one event
    of a row, each row's events arrive in order, all in one run and one claim."""
    written = add_keyed(
        ordered_outbox.connect(),
        [(key(n % 3), "arn:a", {"row": n % 3, "n": n}) for n in range(12)]
        + [(None, "arn:a", {"row": None, "n": n}) for n in (12, 13)],
    )
    targets = Targets()
    summary = run_relay(OutboxStore(ordered_outbox.connect()), targets, SLOW_RETRY)
    assert (summary.claimed, summary.delivered, summary.held) == (14, 14, 0)
    # Wave 0: each row's first event and the unkeyed ones; then one event a row a wave.
    assert [len(batch) for _, batch in targets.calls] == [5, 3, 3, 3]
    assert targets.calls[0][1] == ids([written[n] for n in (0, 1, 2, 12, 13)])
    for wave, (_, batch) in enumerate(targets.calls[1:], start=1):
        assert batch == ids(written[3 * wave : 3 * wave + 3])
    assert all(r["delivered"] and r["attempts"] == 1 for r in table(ordered_outbox))


def test_a_failed_event_holds_back_its_row_and_no_other_and_the_status_shows_it(
    ordered_outbox, monkeypatch, capsys
):
    connection = ordered_outbox.connect()
    written = add_keyed(
        connection,
        [(key(row % 3), "arn:a", {"row": row % 3, "version": row // 3 + 1}) for row in range(9)]
        + [(None, "arn:a", {"row": None, "version": 0})],
    )
    keyed = written[:9]
    failing = written[0][1]  # row 0's first event
    targets = Targets(lambda target, event: "fail" if event["event_id"] == failing else None)
    summary = run_relay(OutboxStore(ordered_outbox.connect()), targets, SLOW_RETRY)
    assert (summary.delivered, summary.retried, summary.parked) == (7, 1, 0)
    # One claim took all ten; row 0's two later events wait for its retry, not sent.
    assert (summary.claimed, summary.waiting_for_retry, summary.released) == (10, 2, 0)
    sent = targets.sent()
    # Rows 1 and 2 in their order, the unkeyed one at once; row 0's later events never sent.
    for row in (1, 2):
        assert [e for e in sent if e in ids(keyed[row::3])] == ids(keyed[row::3])
    assert set(ids(keyed[1::3]) + ids(keyed[2::3]) + [written[9][1]]) <= set(sent)
    assert [e for e in sent if e in ids(keyed[0::3])] == [failing]
    assert [r["delivered"] for r in table(ordered_outbox)[:9]][0::3] == [0, 0, 0]
    # The followers are due at the very time of their head's retry, no attempt used.
    assert next_attempts(ordered_outbox, [s for s, _ in keyed[0::3]]) == [
        (1, "reported as failed by the target: boom"),
        (0, None),
        (0, None),
    ]

    monkeypatch.setenv("DATABASE_URL", ordered_outbox.url)
    assert main(["outbox"]) == 0
    lines = [re.sub(r"\s+", " ", line) for line in capsys.readouterr().out.splitlines()]
    # Row 0's head backs off, and its followers with it, held behind it.
    assert lines[:4] == ["due now 0", "in flight / backing off 3", "parked 0", "delivered (kept) 7"]
    assert lines[5] == "held behind their row 2 (in 1 row(s); counted above)"


def next_attempts(database, sequences: list[int]) -> list[tuple[int, str | None]]:
    """(attempts, last_error) of ``sequences``, asserting they share one next attempt."""
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT attempts, last_error, next_attempt_at FROM aurora_events_outbox "
            "WHERE sequence IN (%s, %s, %s) ORDER BY sequence",
            sequences,
        )
        found = cursor.fetchall()
    assert len({when for _, _, when in found}) == 1, found
    return [(attempts, error) for attempts, error, _ in found]


def test_parking_a_failed_event_releases_its_row_in_the_same_run(
    ordered_outbox, monkeypatch, capsys
):
    connection = ordered_outbox.connect()
    written = add_keyed(connection, [(key(1), "arn:a", {"version": v}) for v in (1, 2, 3)])
    failing = written[0][1]
    targets = Targets(lambda target, event: "fail" if event["event_id"] == failing else None)
    one_try = RelaySettings(lease_seconds=60, target_timeout_seconds=10, max_attempts=1)
    summary = run_relay(OutboxStore(ordered_outbox.connect()), targets, one_try)
    assert (summary.parked, summary.delivered) == (1, 2)
    assert summary.claimed == 3  # one claim: the followers went in its later waves
    assert targets.sent() == ids(written)  # the parked one first, then the rest in order
    assert [(r["parked"], r["delivered"]) for r in table(ordered_outbox)] == [
        (1, 0),
        (0, 1),
        (0, 1),
    ]
    monkeypatch.setenv("DATABASE_URL", ordered_outbox.url)
    assert main(["outbox"]) == 0
    out = re.sub(r"[ \t]+", " ", capsys.readouterr().out)
    assert "parked 1\n" in out and "held behind their row 0 (in 0 row(s); counted above)\n" in out


@pytest.mark.parametrize("outbox_name", ["ordered_outbox", "ordered_outbox_without_hold_counter"])
def test_followers_of_a_head_another_relay_leased_are_held_then_made_due_when_it_delivers(
    request, outbox_name
):
    """With the hold counter (revision 0010) B's hold is counted and A promotes after its
    record because the count moved; without it (revision 0009) A promotes in its record."""
    ordered_outbox = request.getfixturevalue(outbox_name)
    with_counter = outbox_name == "ordered_outbox"
    connection = ordered_outbox.connect()
    written = add_keyed(
        connection,
        [
            (key(1), "arn:a", {"v": 1}),
            (key(1), "arn:a", {"v": 2}),
            (key(2), "arn:a", {"v": 1}),
            (key(1), "arn:a", {"v": 3}),
        ],
    )
    a, b = OutboxStore(ordered_outbox.connect()), OutboxStore(ordered_outbox.connect())
    claim_a = a.claim(1, 30, BIG, BIG)
    assert [row.event_id for row in claim_a.rows] == [written[0][1]]
    claim_b = b.claim(100, 30, BIG, BIG)
    assert [row.event_id for row in claim_b.rows] == [written[2][1]]  # not row 1's others
    assert claim_b.held == 2
    # Held, not leased: not due until A's lease ends (its token), attempts untouched.
    assert (
        next_attempt_at(ordered_outbox, [written[1][0], written[3][0]]) == [claim_a.lease.token] * 2
    )
    assert b.claim(100, 30, BIG, BIG) is None  # they no longer fill a claim
    assert (a.hold_counter, b.hold_counter) == (with_counter, with_counter)
    if with_counter:
        assert holds(ordered_outbox) == 1
        assert claim_a.lease.holds_seen == 0  # A claimed before B held
    targets = Targets()
    summary = RunSummary()
    ClaimDelivery(a, targets, SLOW_RETRY, claim_a, summary, time.monotonic).run()
    assert (summary.delivered, a.promoted) == (1, 2)
    # A's delivery made them due: B's next claim takes both, in order.
    assert [row.event_id for row in b.claim(100, 30, BIG, BIG).rows] == ids(
        [written[1], written[3]]
    )


def test_a_keys_last_event_its_target_did_not_attempt_releases_what_was_held_behind_it(
    ordered_outbox,
):
    """A claims row 1's head and row 2's event; B holds row 1's follower behind A's lease.
    The target delivers row 2's event and does not attempt row 1's head (it stopped before
    its deadline): the head is due again at once, and so is the follower (not at A's
    lease's end), and the next claim takes them in order."""
    written = add_keyed(
        ordered_outbox.connect(),
        [(key(1), "arn:a", {"v": 1}), (key(2), "arn:a", {"v": 1}), (key(1), "arn:a", {"v": 2})],
    )
    a = OutboxStore(ordered_outbox.connect())
    claim_a = a.claim(2, 30, BIG, BIG)
    assert [row.event_id for row in claim_a.rows] == ids(written[:2])
    assert OutboxStore(ordered_outbox.connect()).claim(100, 30, BIG, BIG).held == 1

    def target(function: str, events: list[dict]) -> dict:
        return BatchAnswer(unattempted=[written[0][1]]).as_dict()

    summary = RunSummary()
    ClaimDelivery(a, target, SLOW_RETRY, claim_a, summary, time.monotonic).run()
    assert (summary.delivered, summary.released, a.promoted) == (1, 1, 1)
    again = OutboxStore(ordered_outbox.connect()).claim(100, 30, BIG, BIG)
    assert [row.event_id for row in again.rows] == ids([written[0], written[2]])


def holds(database) -> int:
    """The hold counter (revision 0010)."""
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT holds FROM aurora_events_outbox_holds")
        (count,) = cursor.fetchone()
    return count


def test_a_claim_with_nothing_of_its_rows_waiting_elsewhere_needs_no_second_look(ordered_outbox):
    """The quick look (waiting_up_to.sql): true for a claim that holds every waiting event
    up to its last; false once an earlier event waits outside it, leased by another claim
    or backing off; a claim that then looks and holds nothing leaves the counter as it was,
    one that holds adds one."""
    written = add_keyed(
        ordered_outbox.connect(), [(key(n % 3), "arn:a", {"n": n}) for n in range(6)]
    )
    everything = [sequence for sequence, _ in written]
    with ordered_outbox.connect().cursor() as cursor:
        assert all_waiting_claimed(cursor, everything)
        assert not all_waiting_claimed(cursor, everything[1:])
        assert all_waiting_claimed(cursor, everything[:2])
    first = OutboxStore(ordered_outbox.connect())
    head = first.claim(1, 30, BIG, BIG)  # row 0's first event, leased
    assert [row.event_id for row in head.rows] == ids(written[:1])
    second = OutboxStore(ordered_outbox.connect())
    claim = second.claim(100, 30, BIG, BIG)  # rows 1 and 2 go; row 0's other waits
    assert [row.event_id for row in claim.rows] == ids([written[n] for n in (1, 2, 4, 5)])
    assert (claim.held, holds(ordered_outbox)) == (1, 1)
    with ordered_outbox.connect().cursor() as cursor:
        cursor.execute("SELECT held_up_to FROM aurora_events_outbox_holds")
        assert cursor.fetchone()[0] == written[3][0]  # the one it held
    # A new row's event: the claim that takes it looks (the others wait before it, leased
    # or held), holds nothing, and counts nothing.
    (new,) = add_keyed(ordered_outbox.connect(), [(key(3), "arn:a", {"n": 6})])
    assert [row.event_id for row in second.claim(100, 30, BIG, BIG).rows] == ids([new])
    assert holds(ordered_outbox) == 1


def test_a_record_waits_for_a_hold_being_written_then_makes_it_due(ordered_outbox, admin):
    """The race the hold counter closes: B took its second look before A's record
    committed (so it holds A's follower until A's lease ends) and has not committed yet
    when A, its record committed, reads the counter. A waits for B (the counter's row
    lock), sees the count moved, and makes the follower due."""
    written = add_keyed(
        ordered_outbox.connect(), [(key(1), "arn:a", {"v": 1}), (key(1), "arn:a", {"v": 2})]
    )
    (head, _), (follower, _) = written
    a = OutboxStore(ordered_outbox.connect())
    claim = a.claim(1, 30, BIG, BIG)
    # B, by hand: counted, the follower held until A's lease ends, not committed.
    b = ordered_outbox.connect()
    b.begin()
    with b.cursor() as cursor:
        cursor.execute(sql.render("outbox/count_holds.sql")[0], (1,))
        cursor.execute(for_sequences("outbox/hold.sql", 1), (claim.lease.token, follower))
        cursor.execute(sql.render("outbox/held_up_to.sql")[0], (follower,))
    recorder = a.connection
    with recorder.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        recorder_id = cursor.fetchone()[0]
    recorded = []
    promote = functools.partial(finished_keys, claim.rows, [head], {head})
    thread = threading.Thread(
        target=lambda: recorded.append(a.mark_delivered(claim.lease, [head], promote))
    )
    thread.start()
    for _ in range(500):  # until A waits for B's counter (at most 5 s)
        if lock_waits(admin, recorder_id):
            break
        thread.join(0.01)
    assert lock_waits(admin, recorder_id) and not recorded
    b.commit()
    thread.join(30)
    assert recorded == [1] and a.promoted == 1
    with ordered_outbox.connect().cursor() as cursor:
        cursor.execute(
            "SELECT next_attempt_at <= UTC_TIMESTAMP(6) FROM aurora_events_outbox "
            "WHERE sequence = %s",
            (follower,),
        )
        assert cursor.fetchone()[0] == 1


def test_an_event_held_behind_one_being_promoted_is_made_due_too(ordered_outbox, monkeypatch):
    """Held behind a held event: B held the row's second event behind A's first (until A's
    lease ends); while A makes it due, C, which looked before that committed, holds the
    third behind the second, until the same time. A reads the counter again after its
    promotion, sees C's hold, and makes the third due as well."""
    written = add_keyed(ordered_outbox.connect(), [(key(1), "arn:a", {"v": v}) for v in (1, 2, 3)])
    (head, _), (second, _), (third, _) = written
    a = OutboxStore(ordered_outbox.connect())
    claim = a.claim(1, 30, BIG, BIG)
    hold_by_hand(ordered_outbox, claim.lease.token, second)  # B
    promote_after_record = outbox_module.promote_after_record

    def c_holds_first(cursor, keys, token, held_up_to):
        if cursor.connection is a.connection and not c_held:
            c_held.append(hold_by_hand(ordered_outbox, token, third))  # C
        return promote_after_record(cursor, keys, token, held_up_to)

    c_held: list = []
    monkeypatch.setattr(outbox_module, "promote_after_record", c_holds_first)
    promote = functools.partial(finished_keys, claim.rows, [head], {head})
    assert a.mark_delivered(claim.lease, [head], promote) == 1
    assert c_held and a.promoted == 2
    with ordered_outbox.connect().cursor() as cursor:
        cursor.execute(
            "SELECT sequence, next_attempt_at <= UTC_TIMESTAMP(6) FROM aurora_events_outbox "
            "WHERE delivered_at IS NULL ORDER BY sequence"
        )
        assert cursor.fetchall() == ((second, 1), (third, 1))


def hold_by_hand(database, until, sequence: int) -> int:
    """As a claim that holds does: counted, the event held until ``until``, the greatest
    sequence held, one commit."""
    connection = database.connect()
    connection.begin()
    with connection.cursor() as cursor:
        cursor.execute(sql.render("outbox/count_holds.sql")[0], (1,))
        cursor.execute(for_sequences("outbox/hold.sql", 1), (until, sequence))
        cursor.execute(sql.render("outbox/held_up_to.sql")[0], (sequence,))
    connection.commit()
    return sequence


def test_a_relay_account_that_may_not_use_the_hold_counter_works_without_it(
    ordered_outbox, admin, caplog
):
    user = f"r{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
        cursor.execute(
            f"GRANT SELECT, UPDATE, DELETE ON `{ordered_outbox.name}`.`aurora_events_outbox` "
            f"TO '{user}'@'%'"
        )
    written = add_keyed(ordered_outbox.connect(), [(key(1), "arn:a", {"v": 1})])
    settings = parse_database_url(ordered_outbox.url)
    relay = connect(replace(settings, user=user, password="pw"))
    with caplog.at_level(logging.WARNING, logger="functions.relay.outbox"):
        store = OutboxStore(relay)
    assert (store.ordered, store.hold_counter) == (True, False)
    (record,) = [r for r in caplog.records if r.name == "functions.relay.outbox"]
    assert record.getMessage().startswith(
        "the outbox's hold counter is not usable, promoting on every record: SELECT command denied"
    )
    targets = Targets()
    assert run_relay(store, targets, SLOW_RETRY).delivered == 1
    assert targets.sent() == ids(written)
    with admin.cursor() as cursor:
        cursor.execute(
            f"GRANT SELECT, UPDATE ON `{ordered_outbox.name}`.`aurora_events_outbox_holds` "
            f"TO '{user}'@'%'"
        )
    assert OutboxStore(connect(replace(settings, user=user, password="pw"))).hold_counter


def next_attempt_at(database, sequences: list[int]) -> list:
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT next_attempt_at FROM aurora_events_outbox WHERE sequence IN (%s, %s) "
            "ORDER BY sequence",
            sequences,
        )
        return [when for (when,) in cursor.fetchall()]


def lock_waits(admin, connection_id: int) -> bool:
    """Whether connection ``connection_id`` runs a statement and a row lock is waited for
    (MariaDB lists no transaction of a locking read in INNODB_TRX; nothing else of this
    test session writes meanwhile)."""
    with admin.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_row_lock_current_waits'")
        waits = int(cursor.fetchone()[1])
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            "WHERE ID = %s AND COMMAND = 'Query'",
            (connection_id,),
        )
        return waits > 0 and cursor.fetchone()[0] > 0


def test_a_follower_committed_while_the_claim_waits_for_its_head_is_held_behind_it(
    ordered_outbox, admin
):
    """The race the second look is for, set up: row 1's head is written (not committed)
    before the claim; the claim reads another row's event, then waits for the head's lock
    (the claim without SKIP LOCKED waits where the other skips); the follower is committed,
    then the head. With a statement-wide snapshot (as MySQL documents for READ COMMITTED)
    a look back inside the scan would not see the head. The scan, resumed, does not take
    the follower (MariaDB 10.11 here): it is left due, and the next claim holds it behind
    the head this one leased (the next test shows the second look holding followers whose
    head the claim does not hold)."""
    other = add_keyed(ordered_outbox.connect(), [(key(9), "arn:a", {"v": 1})])
    writer = ordered_outbox.connect()
    writer.begin()
    (head,) = add_keyed_uncommitted(writer, [(key(1), "arn:a", {"v": 1})])
    relay = ordered_outbox.connect()
    with relay.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        relay_id = cursor.fetchone()[0]
    store = OutboxStore(relay, skip_locked=False, ordered=True)
    claimed = []
    waiter = threading.Thread(target=lambda: claimed.append(store.claim(100, 30, BIG, BIG)))
    waiter.start()
    for _ in range(500):  # until the claim waits for the head's lock (at most 5 s)
        if lock_waits(admin, relay_id):
            break
        waiter.join(0.01)
    assert lock_waits(admin, relay_id)
    (follower,) = add_keyed(ordered_outbox.connect(), [(key(1), "arn:a", {"v": 2})])
    writer.commit()
    waiter.join(30)
    (claim,) = claimed
    assert [row.sequence for row in claim.rows] == [other[0][0], head[0]]
    assert follower[0] not in [row.sequence for row in claim.rows]
    again = OutboxStore(ordered_outbox.connect(), skip_locked=False, ordered=True)
    assert again.claim(100, 30, BIG, BIG).held == 1


@pytest.mark.parametrize("skip_locked", [True, False])
def test_the_second_look_holds_followers_whose_head_the_claim_does_not_hold(
    ordered_outbox, skip_locked
):
    """Row 0's head is leased by another claim, row 1's head backs off after a failure:
    their followers are held until then (not leased, attempts untouched); row 2's events
    and the unkeyed one are claimed, all of them."""
    written = add_keyed(
        ordered_outbox.connect(),
        [(key(n % 3), "arn:a", {"n": n}) for n in range(9)] + [(None, "arn:a", {"n": 9})],
    )
    first = OutboxStore(ordered_outbox.connect(), skip_locked=skip_locked, ordered=True)
    head_claim = first.claim(2, 30, BIG, BIG)  # rows 0's and 1's heads
    assert [row.sequence for row in head_claim.rows] == [written[0][0], written[1][0]]
    assert first.retry_later(head_claim.lease, [written[1][0]], 5, "boom") == 1
    store = OutboxStore(ordered_outbox.connect(), skip_locked=skip_locked, ordered=True)
    claim = store.claim(100, 30, BIG, BIG)
    assert [row.event_id for row in claim.rows] == ids(written[2::3] + [written[9]])
    assert claim.held == 4
    with ordered_outbox.connect().cursor() as cursor:
        cursor.execute("SELECT sequence, next_attempt_at, attempts FROM aurora_events_outbox")
        rows = {sequence: (when, attempts) for sequence, when, attempts in cursor.fetchall()}
    head_retry = rows[written[1][0]][0]
    for n in (3, 6):
        assert rows[written[n][0]] == (head_claim.lease.token, 0)
    for n in (4, 7):
        assert rows[written[n][0]] == (head_retry, 0)


def add_keyed_uncommitted(connection, events):
    with connection.cursor() as cursor:
        written = []
        for key_bytes, target, fields in events:
            event_id = str(uuid.uuid4())
            cursor.execute(
                "INSERT INTO aurora_events_outbox (event_id, target_function, payload, "
                "created_at, next_attempt_at, ordering_key) "
                "VALUES (%s, %s, %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), %s)",
                (event_id, target, json.dumps({"event_id": event_id, **fields}), key_bytes),
            )
            written.append((cursor.lastrowid, event_id))
    return written


def test_without_an_ordering_key_column_the_relay_claims_as_before(outbox):
    store = OutboxStore(outbox.connect())
    assert store.ordered is False
    assert claim_statement(store.skip_locked, store.ordered) == "outbox/claim_due.sql"


@pytest.mark.parametrize("skip_locked", [True, False])
def test_the_ordered_claim_reads_index_ranges_not_the_kept_rows(ordered_outbox, skip_locked):
    """5,000 delivered rows kept (a week of events, in small) and 100 waiting: the claim's
    scan reads the waiting rows' part of ``outbox_pending``, and so does its quick look
    (the index alone); the
    second look reads its rows by primary key
    and each key's look back is a range of ``outbox_key_pending``; the promotion finds its
    candidates from the lease's last rows (by primary key) in ranges of
    ``outbox_key_pending`` (the index alone) and updates them by primary key; the
    status's look back is a range too. None is a scan."""
    connection = ordered_outbox.connect()
    add_keyed(connection, [(key(n % 50), "arn:a", {"n": n}) for n in range(5000)])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE aurora_events_outbox SET delivered_at = UTC_TIMESTAMP(6)")
    add_keyed(connection, [(key(n % 50), "arn:a", {"n": n}) for n in range(100)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE aurora_events_outbox")
        cursor.fetchall()
    (claim,) = sql.render(claim_statement(skip_locked, True))
    (held,) = sql.render("outbox/held_keys.sql")
    plans = {
        "claim": explain(connection, claim, (2000,)),
        "quick look": explain(connection, sql.render("outbox/waiting_up_to.sql")[0], (5100,)),
        "second look": explain(
            connection, for_sequences("outbox/held_behind.sql", 3), (1, 2, 3) * 2
        ),
        "status": explain(connection, held, ()),
        "candidates": explain(
            connection, for_sequences("outbox/promote_candidates.sql", 2), (10**9, 5001, 5002)
        ),
        "promotion": explain(
            connection, for_sequences("outbox/promote.sql", 3), ("arn:a", 5001, 5002, 5003)
        ),
    }
    for name, plan in plans.items():
        assert all(row["type"] not in ("ALL", "index") for row in plan), (name, plan)
    (claimed,) = plans["claim"]
    (quick,) = plans["quick look"]
    for row in (claimed, quick):
        # A range or a ref (the optimizer's choice flips with its row estimates): either
        # way bounded by both IS NULLs, the waiting rows' prefix of the index, so no kept
        # (delivered or parked) row is read.
        assert (row["key"], row["type"]) in {("outbox_pending", "range"), ("outbox_pending", "ref")}
        assert int(row["key_len"]) >= WAITING_PREFIX_BYTES, row
    assert "Using index" in quick["Extra"]
    for name in ("second look", "status"):
        by_alias = {row["table"]: row for row in plans[name]}
        assert set(by_alias) == {"o", "e"}, (name, plans[name])
        assert by_alias["e"]["key"] == "outbox_key_pending", (name, plans[name])
        assert by_alias["e"]["type"] in ("ref", "range"), (name, plans[name])
    assert {row["table"]: row["key"] for row in plans["second look"]}["o"] == "PRIMARY"
    candidates = {row["table"]: row for row in plans["candidates"]}
    assert (candidates["o"]["key"], candidates["o"]["type"]) == ("PRIMARY", "range")
    assert (candidates["e"]["key"], candidates["e"]["type"]) in {
        ("outbox_key_pending", "ref"),
        ("outbox_key_pending", "range"),
    }
    assert "Using index" in candidates["e"]["Extra"]  # the index alone: no row read
    assert [(row["key"], row["type"]) for row in plans["promotion"]] == [("PRIMARY", "range")]


def test_a_claim_never_walks_the_kept_rows_of_a_big_outbox(ordered_outbox):
    """200,000 delivered rows kept, then three backlogs of 20,000 delivered by the relay
    with default settings: its session never starts an index at its first entry
    (``Handler_read_first``: the primary key walked in order from the oldest kept row)
    and reads two index entries an event (claim and record), not the kept ones. Without
    FORCE INDEX in the claim the optimizer chose that walk for some claims once the table
    was this big: 5 runs of 5 by hand and of this test, 1 to 4 claims a run, up to 520,000
    entries read for 20,000 events."""
    writer = ordered_outbox.connect()
    add_generated(writer, 200_000)
    with writer.cursor() as cursor:
        cursor.execute("UPDATE aurora_events_outbox SET delivered_at = UTC_TIMESTAMP(6)")
    relay = ordered_outbox.connect()
    delivered = BatchAnswer().as_dict()
    for _ in range(3):
        add_generated(writer, 20_000)
        before = handler_reads(relay)
        summary = run_relay(OutboxStore(relay), lambda target, events: delivered, RelaySettings())
        read = {name: count - before.get(name, 0) for name, count in handler_reads(relay).items()}
        assert summary.delivered == 20_000
        assert read.get("Handler_read_first", 0) == 0, read
        assert read.get("Handler_read_next", 0) <= 2 * 20_000, read


def add_generated(connection, events: int) -> None:
    """``events`` due outbox rows, each its own key, written in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO aurora_events_outbox (event_id, target_function, payload, created_at, "
            "next_attempt_at, ordering_key) "
            "SELECT id, 'arn:a', JSON_OBJECT('event_id', id), UTC_TIMESTAMP(6), "
            "UTC_TIMESTAMP(6), UNHEX(LEFT(SHA2(id, 256), 32)) "
            f"FROM (SELECT UUID() AS id FROM seq_1_to_{events}) AS generated"
        )


def handler_reads(connection) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read%'")
        return {name: int(value) for name, value in cursor.fetchall()}


# `outbox_pending`'s first two columns, `delivered_at` and `parked_at`: DATETIME(6) NULL,
# 8 bytes and a NULL flag each in EXPLAIN's key_len.
WAITING_PREFIX_BYTES = 2 * (8 + 1)


def explain(connection, statement: str, parameters: tuple) -> list[dict]:
    with connection.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute("EXPLAIN " + statement, parameters)
        return cursor.fetchall()


# -- 200 rows × 20 events, 8 writers, two relays, 10% of first attempts failing ------------

ROWS, VERSIONS, WRITERS = 200, 20, 8
UNKEYED_EVERY = 10  # every tenth write also writes an event without a key
ORDER_SETTINGS = RelaySettings(
    claim_size=100,
    events_per_invocation=50,
    lease_seconds=10,
    target_connect_timeout_seconds=0.5,
    target_timeout_seconds=2,
    max_attempts=8,
    backoff_base_seconds=0.05,
    backoff_max_seconds=0.2,
)


class FlakyTarget:
    """Records every attempt per row (version, accepted) in arrival order; an event whose
    (row, version) is in ``fail_first`` fails its first attempt."""

    def __init__(self, fail_first: set) -> None:
        self.fail_first = fail_first
        self.tried: set = set()
        self.attempts: dict[object, list[tuple[int, bool]]] = {}
        self.by_relay: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, target: str, events: list[dict]) -> dict:
        answer = BatchAnswer()
        with self.lock:
            for event in events:
                # A row's events by (row, version); an unkeyed event by its id.
                row = event["row"] if event["row"] is not None else event["event_id"]
                name = (row, event["version"]) if event["row"] is not None else row
                fail = name in self.fail_first and name not in self.tried
                self.tried.add(name)
                self.attempts.setdefault(row, []).append((event["version"], not fail))
                if fail:
                    answer.failed[event["event_id"]] = "first attempt fails"
            relay = threading.current_thread().name
            self.by_relay[relay] = self.by_relay.get(relay, 0) + len(events)
        return answer.as_dict()


def write_while_two_relays_deliver(outbox, target, writer, writers: int = WRITERS) -> None:
    """``writers`` threads run ``writer(index)`` while two relays deliver to ``target``; each
    relay goes on until the writers are done and no event waits."""
    writers_done = threading.Event()

    def relay() -> int:
        connection = outbox.connect()
        runs = 0
        with connection.cursor() as cursor:
            while True:
                done = writers_done.is_set()
                run_relay(OutboxStore(connection), target, ORDER_SETTINGS, linger_seconds=0.2)
                runs += 1
                cursor.execute(
                    "SELECT COUNT(*) FROM aurora_events_outbox "
                    "WHERE delivered_at IS NULL AND parked_at IS NULL"
                )
                if done and cursor.fetchone()[0] == 0:
                    return runs
                cursor.fetchall()

    def all_writers() -> None:
        try:
            run_threads([lambda index=index: writer(index) for index in range(writers)], 240)
        finally:
            writers_done.set()

    run_threads([all_writers, relay, relay], 300)


def first_attempts_that_fail(seed: int, rows: int, versions: int) -> set[tuple[int, int]]:
    """About 10% of the (row, version) events, chosen by ``seed``: their first attempt fails."""
    chance = random.Random(seed)
    return {
        (row, version)
        for row in range(rows)
        for version in range(1, versions + 1)
        if chance.random() < 0.1
    }


def assert_each_row_in_order(attempts: dict, rows: int, versions: int) -> None:
    """Each row's versions were accepted in order, each once, and none was sent before the
    one before it was accepted (a failure held the row's later events back)."""
    for row in range(rows):
        accepted = [version for version, ok in attempts[row] if ok]
        assert accepted == list(range(1, versions + 1)), row
        done = 0
        for version, ok in attempts[row]:
            assert version == done + 1, (row, attempts[row])
            done += ok


def test_each_rows_events_arrive_in_order_with_two_relays_and_failing_first_attempts(
    ordered_outbox,
):
    with ordered_outbox.connect().cursor() as cursor:
        cursor.execute("CREATE TABLE things (id INT PRIMARY KEY, version INT NOT NULL)")
        cursor.executemany("INSERT INTO things VALUES (%s, 0)", [(n,) for n in range(ROWS)])
    chance = random.Random(19)
    fail_first: set = first_attempts_that_fail(19, ROWS, VERSIONS)
    unkeyed_ids = [str(uuid.UUID(int=chance.getrandbits(128))) for _ in range(400)]
    fail_first |= {event_id for event_id in unkeyed_ids if chance.random() < 0.1}
    work = [row for row in range(ROWS) for _ in range(VERSIONS)]
    chance.shuffle(work)
    todo: queue.Queue = queue.Queue()
    for number, row in enumerate(work):
        todo.put((number, row))
    written = [0] * WRITERS

    def writer(index: int) -> None:
        """As a trigger on ``things`` would: the row's UPDATE and its event, one commit."""
        connection = ordered_outbox.connect()
        with connection.cursor() as cursor:
            while True:
                try:
                    number, row = todo.get_nowait()
                except queue.Empty:
                    return
                connection.begin()  # the connection autocommits otherwise
                cursor.execute("UPDATE things SET version = version + 1 WHERE id = %s", (row,))
                cursor.execute("SELECT version FROM things WHERE id = %s", (row,))
                (version,) = cursor.fetchone()
                event_id = str(uuid.uuid4())
                payload = {"event_id": event_id, "row": row, "version": version}
                cursor.execute(
                    "INSERT INTO aurora_events_outbox (event_id, target_function, payload, "
                    "created_at, next_attempt_at, ordering_key) "
                    "VALUES (%s, 'arn:a', %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), %s)",
                    (event_id, json.dumps(payload), key(row)),
                )
                if number % UNKEYED_EVERY == 0:
                    unkeyed = unkeyed_ids[number // UNKEYED_EVERY]
                    cursor.execute(
                        "INSERT INTO aurora_events_outbox (event_id, target_function, payload, "
                        "created_at, next_attempt_at) "
                        "VALUES (%s, 'arn:a', %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
                        (unkeyed, json.dumps({"event_id": unkeyed, "row": None, "version": 0})),
                    )
                connection.commit()
                written[index] += 1

    target = FlakyTarget(fail_first)
    write_while_two_relays_deliver(ordered_outbox, target, writer)
    assert sum(written) == ROWS * VERSIONS and min(written) > 0

    assert_each_row_in_order(target.attempts, ROWS, VERSIONS)
    for event_id in unkeyed_ids:
        attempts = target.attempts[event_id]
        assert [ok for _, ok in attempts] == ([False, True] if event_id in fail_first else [True])
    failed = sum(not ok for attempts in target.attempts.values() for _, ok in attempts)
    assert failed == len(fail_first) > 0
    assert len(target.by_relay) == 2 and min(target.by_relay.values()) > 0  # side by side
    rows = table(ordered_outbox)
    assert len(rows) == ROWS * VERSIONS + len(unkeyed_ids)
    assert all(r["delivered"] and not r["parked"] for r in rows)
    assert sum(r["attempts"] for r in rows) == len(rows) + len(fail_first)


HOT_ROWS, HOT_VERSIONS = 20, 30


def test_a_hot_backlog_drains_with_two_relays_in_each_rows_order(ordered_outbox):
    """20 rows × 30 events waiting (interleaved, as busy rows write them), a tenth of first
    attempts failing, two relays side by side with 100-row claims: each claim takes a few
    events of every row, the other relay's claim is held behind it; every event arrives
    once accepted, in its row's order."""
    connection = ordered_outbox.connect()
    add_keyed(
        connection,
        [
            (key(n % HOT_ROWS), "arn:a", {"row": n % HOT_ROWS, "version": n // HOT_ROWS + 1})
            for n in range(HOT_ROWS * HOT_VERSIONS)
        ],
    )
    fail_first = first_attempts_that_fail(20, HOT_ROWS, HOT_VERSIONS)
    target = FlakyTarget(fail_first)
    summaries: list = []

    def relay() -> None:
        store = OutboxStore(ordered_outbox.connect())
        while True:
            summary = run_relay(store, target, ORDER_SETTINGS, linger_seconds=0.2)
            summaries.append(summary)
            if pending(ordered_outbox) == 0:
                return

    run_threads([relay, relay], 300)
    assert_each_row_in_order(target.attempts, HOT_ROWS, HOT_VERSIONS)
    rows = table(ordered_outbox)
    assert len(rows) == HOT_ROWS * HOT_VERSIONS
    assert all(r["delivered"] and not r["parked"] for r in rows)
    assert sum(r["attempts"] for r in rows) == len(rows) + len(fail_first) > len(rows)
    assert sum(s.delivered for s in summaries) == len(rows)
    assert sum(s.lease_lost for s in summaries) == 0


def test_two_relays_on_busy_rows_leave_nothing_held_when_both_are_done(ordered_outbox):
    """50 rows × 40 events, no failures, two relays, one run each; the second claims while
    the first sends its first invocation (so it holds behind the first's lease). A run ends
    when its claim finds nothing due, so an event held and never made due (a promotion
    missed: it would wait for a lease's end) is still waiting when both have ended."""
    add_keyed(
        ordered_outbox.connect(),
        [(key(n % 50), "arn:a", {"row": n % 50, "version": n // 50 + 1}) for n in range(2000)],
    )
    first_sends, second_claimed = threading.Event(), threading.Event()

    class FirstSendWaits(FlakyTarget):
        def __call__(self, target: str, events: list[dict]) -> dict:
            if not first_sends.is_set():
                first_sends.set()
                second_claimed.wait(30)
            return super().__call__(target, events)

    target = FirstSendWaits(set())
    summaries: list = []

    def first() -> None:
        summaries.append(run_relay(OutboxStore(ordered_outbox.connect()), target, ORDER_SETTINGS))

    def second() -> None:
        store = OutboxStore(ordered_outbox.connect())
        claim = store.claim

        def claim_then_tell(*args, **kwargs):
            try:
                return claim(*args, **kwargs)
            finally:
                second_claimed.set()

        store.claim = claim_then_tell
        first_sends.wait(30)
        summaries.append(run_relay(store, target, ORDER_SETTINGS))

    run_threads([first, second], 120)
    assert pending(ordered_outbox) == 0
    assert_each_row_in_order(target.attempts, 50, 40)
    assert sum(s.delivered for s in summaries) == 2000
    assert sum(s.held for s in summaries) > 0  # the second held behind the first


def pending(database) -> int:
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM aurora_events_outbox "
            "WHERE delivered_at IS NULL AND parked_at IS NULL"
        )
        return cursor.fetchone()[0]
