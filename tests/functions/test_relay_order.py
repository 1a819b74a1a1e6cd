"""Per-row order on an ordered outbox (revision 0008's ``ordering_key``), on the real
server: a claim takes each (target, key)'s oldest waiting event only; a failed event holds
back its row's later events and no other row's; parking releases the row (and
``aurora-events outbox`` shows both); a head leased by another relay holds its followers;
the claim's second look closes the snapshot race; events without a key go as before; the
claim reads index ranges; and 200 rows × 20 events written by 8 connections while two
relays run, with 10% of first attempts failing, arrive in each row's order, none lost or
twice."""

from __future__ import annotations

import json
import queue
import random
import re
import threading
import uuid

import pymysql
import pytest

import sql
from functions.common.event_batches import BatchAnswer
from functions.common.ordering_key import ordering_key
from functions.relay import outbox as outbox_module
from functions.relay.delivery import RelaySettings
from functions.relay.outbox import OutboxStore, claim_statement, for_sequences
from functions.relay.runs import run_relay
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


def test_a_claim_takes_each_rows_oldest_waiting_event_and_every_unkeyed_one(ordered_outbox):
    connection = ordered_outbox.connect()
    written = add_keyed(
        connection,
        [
            (key(1), "arn:a", {"n": 0}),
            (key(2), "arn:a", {"n": 1}),
            (key(1), "arn:a", {"n": 2}),  # behind n=0
            (None, "arn:a", {"n": 3}),
            (key(1), "arn:b", {"n": 4}),  # another target: its own order
            (None, "arn:a", {"n": 5}),
            (key(2), "arn:a", {"n": 6}),  # behind n=1
            (key(1), "arn:b", {"n": 7}),  # behind n=4
        ],
    )
    claim = OutboxStore(ordered_outbox.connect()).claim(100, 30, BIG, BIG)
    assert [row.event_id for row in claim.rows] == ids([written[n] for n in (0, 1, 3, 4, 5)])
    # Nothing more while those are leased: the followers wait for their heads.
    assert OutboxStore(ordered_outbox.connect()).claim(100, 30, BIG, BIG) is None


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
    sent = targets.sent()
    # Rows 1 and 2 in their order (one event per row a claim), the unkeyed one at once;
    # row 0's later events never sent.
    for row in (1, 2):
        assert [e for e in sent if e in ids(keyed[row::3])] == ids(keyed[row::3])
    assert set(ids(keyed[1::3]) + ids(keyed[2::3]) + [written[9][1]]) <= set(sent)
    assert [e for e in sent if e in ids(keyed[0::3])] == [failing]
    assert [r["delivered"] for r in table(ordered_outbox)[:9]][0::3] == [0, 0, 0]

    monkeypatch.setenv("DATABASE_URL", ordered_outbox.url)
    assert main(["outbox"]) == 0
    lines = [re.sub(r"\s+", " ", line) for line in capsys.readouterr().out.splitlines()]
    # Row 0's followers are due by the clock, and held behind its head (backing off).
    assert lines[:4] == ["due now 2", "in flight / backing off 1", "parked 0", "delivered (kept) 7"]
    assert lines[5] == "held behind their row 2 (in 1 row(s); counted above)"


def test_parking_a_failed_event_releases_its_row(ordered_outbox, monkeypatch, capsys):
    connection = ordered_outbox.connect()
    written = add_keyed(connection, [(key(1), "arn:a", {"version": v}) for v in (1, 2, 3)])
    failing = written[0][1]
    targets = Targets(lambda target, event: "fail" if event["event_id"] == failing else None)
    one_try = RelaySettings(lease_seconds=60, target_timeout_seconds=10, max_attempts=1)
    summary = run_relay(OutboxStore(ordered_outbox.connect()), targets, one_try)
    assert (summary.parked, summary.delivered) == (1, 2)
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


def test_a_head_leased_by_another_relay_holds_its_followers_until_it_is_delivered(
    ordered_outbox,
):
    connection = ordered_outbox.connect()
    written = add_keyed(
        connection,
        [(key(1), "arn:a", {"v": 1}), (key(1), "arn:a", {"v": 2}), (key(2), "arn:a", {"v": 1})],
    )
    a, b = OutboxStore(ordered_outbox.connect()), OutboxStore(ordered_outbox.connect())
    claim_a = a.claim(1, 30, BIG, BIG)
    assert [row.event_id for row in claim_a.rows] == [written[0][1]]
    claim_b = b.claim(100, 30, BIG, BIG)
    assert [row.event_id for row in claim_b.rows] == [written[2][1]]  # not row 1's second
    assert b.claim(100, 30, BIG, BIG) is None
    assert a.mark_delivered(claim_a.lease, [written[0][0]]) == 1
    assert [row.event_id for row in b.claim(100, 30, BIG, BIG).rows] == [written[1][1]]


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


def test_the_second_look_lets_go_of_a_follower_the_claims_snapshot_missed(ordered_outbox, admin):
    """The race the second look is for, set up: the claim's subquery is no locking read,
    and reads a snapshot that can be older than the rows its locking scan finds. Row 1's
    head is written (not committed) before the claim; the claim reads another row's event,
    then waits for the head's lock (the claim without SKIP LOCKED waits where the other
    skips); the follower is committed, then the head. With a statement-wide snapshot (as
    MySQL documents for READ COMMITTED) the subquery would not see the head and pass the
    follower; MariaDB 10.11 here sees it even so. Either way the claim must hold the
    follower back: the next test takes the first look away to show the second one does."""
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


def test_the_second_look_lets_go_of_followers_the_first_look_let_through(
    ordered_outbox, monkeypatch
):
    """The claim's first look replaced by the unordered claim (every due row, as a stale
    snapshot would let through): the second look alone holds each row to its head."""
    written = add_keyed(
        ordered_outbox.connect(),
        [(key(n % 2), "arn:a", {"n": n}) for n in range(6)] + [(None, "arn:a", {"n": 6})],
    )
    monkeypatch.setattr(
        outbox_module, "claim_statement", lambda skip, ordered: "outbox/claim_due.sql"
    )
    store = OutboxStore(ordered_outbox.connect())
    claim = store.claim(100, 30, BIG, BIG)
    assert [row.event_id for row in claim.rows] == ids([written[0], written[1], written[6]])
    # The followers were let go, not leased: a claim after the heads' delivery takes them.
    assert store.mark_delivered(claim.lease, [written[0][0], written[1][0]]) == 2
    assert [row.event_id for row in store.claim(100, 30, BIG, BIG).rows] == ids(written[2:4])


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
    scan is a range of ``outbox_pending``, each key's look back a range of
    ``outbox_key_pending``, and the second look reads by primary key; none is a scan."""
    connection = ordered_outbox.connect()
    add_keyed(connection, [(key(n % 50), "arn:a", {"n": n}) for n in range(5000)])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE aurora_events_outbox SET delivered_at = UTC_TIMESTAMP(6)")
    add_keyed(connection, [(key(n % 50), "arn:a", {"n": n}) for n in range(100)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE aurora_events_outbox")
        cursor.fetchall()
    (claim,) = sql.render(claim_statement(skip_locked, True))
    second_look = for_sequences("outbox/held_back.sql", 3)
    (held,) = sql.render("outbox/held_keys.sql")
    plans = {
        "claim": explain(connection, claim, (2000,)),
        "second look": explain(connection, second_look, (1, 2, 3)),
        "status": explain(connection, held, ()),
    }
    for name, plan in plans.items():
        by_alias = {row["table"]: row for row in plan}
        assert set(by_alias) == {"o", "e"}, (name, plan)
        assert all(row["type"] != "ALL" and row["type"] != "index" for row in plan), (name, plan)
        assert by_alias["e"]["key"] == "outbox_key_pending", (name, plan)
        assert by_alias["e"]["type"] in ("ref", "range"), (name, plan)
    assert {row["table"]: row["key"] for row in plans["claim"]}["o"] == "outbox_pending"
    assert {row["table"]: row["key"] for row in plans["second look"]}["o"] == "PRIMARY"


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
    fail_first = {
        (row, version)
        for row in range(ROWS)
        for version in range(1, VERSIONS + 1)
        if chance.random() < 0.1
    }
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
