"""The outbox trigger's text version 3: text 2's outbox row and event, and one doorbell for
all the connections to a database — a ring from any connection within the interval
suppresses the others', a connection that rang and then disconnected or went quiet keeps
nobody from ringing later, and nothing about the doorbell ever fails or holds up an
INSERT (real MariaDB with the emulated lambda_async)."""

import json
import threading

import pytest

from functions.common.events import parse_row_event
from migrations.lambda_trigger import LambdaTrigger
from tests.migrations.test_outbox_trigger import calls_to, outbox_rows
from tests.migrations.test_outbox_trigger_v2 import trigger_body
from tests.support import wait_for

V2 = LambdaTrigger(
    table="things", function="notify", columns=("id", "name"), delivery="outbox", template_version=2
)
V3 = LambdaTrigger(
    table="things", function="notify", columns=("id", "name"), delivery="outbox", template_version=3
)
# The bell's name (sql/triggers/outbox_after_insert_v3.sql) for the interval ``offset``
# intervals from the session's clock: what the connection that rang in it holds.
BELL = (
    "SELECT CONCAT('aurora_events_doorbell:', CRC32(%s), ':', "
    "TIMESTAMPDIFF(MICROSECOND, '2000-01-01', UTC_TIMESTAMP(6)) DIV 1000000 + %s)"
)
# The doorbell's intervals follow the clock: each connection's clock is pinned (SET
# timestamp, what UTC_TIMESTAMP() answers in that session), at seconds after this one,
# so that which inserts share an interval never depends on when the test runs.
EPOCH = 1_900_000_000


@pytest.fixture
def v3_outbox(things, run_ops, relay_arn):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(V3))
    return things


def at(database, seconds: float, connection=None):
    """``connection`` (a new one by default) with its clock at ``EPOCH + seconds``."""
    connection = connection or database.connect()
    with connection.cursor() as cursor:
        cursor.execute("SET timestamp = %s", (EPOCH + seconds,))
    return connection


def insert(connection, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES (%s)", (name,))


def held_bell(connection) -> str | None:
    """The bell this connection keeps (the trigger notes it in the session)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT @aurora_events_doorbell_lock")
        return cursor.fetchone()[0]


def lock_holder(connection, name: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT IS_USED_LOCK(%s)", (name,))
        return cursor.fetchone()[0]


def test_v3_sends_the_same_event_as_v2(things, run_ops, relay_arn, stack):
    """One table, a v2 trigger to notify and a v3 trigger to email: for each row, two
    outbox rows whose events differ only in their id and their time."""
    v3_email = LambdaTrigger(
        "things", "email", ("id", "name"), delivery="outbox", template_version=3
    )
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(V2))
    run_ops(lambda op: op.create_lambda_trigger(v3_email))
    connection = things.connect()
    for name in ("plain", 'quoted "x" 😀', None):
        insert(connection, name)
    connection.begin()
    insert(connection, "rolled back")
    connection.rollback()

    rows = outbox_rows(things)
    arns = stack.resources.live_arns
    by_target = {n: [r for r in rows if r["target_function"] == arns[n]] for n in arns}
    assert (len(by_target["notify"]), len(by_target["email"])) == (3, 3)
    events = {n: [json.loads(r["payload"]) for r in by_target[n]] for n in ("notify", "email")}
    for row, event in zip(by_target["email"], events["email"], strict=True):
        assert row["event_id"] == event["event_id"]
        assert (parse_row_event(event).delivery, event["table"]) == ("outbox", "things")
    assert [e["row"] for e in events["email"]] == [
        {"id": 1, "name": "plain"},
        {"id": 2, "name": 'quoted "x" 😀'},
        {"id": 3, "name": None},
    ]

    def without_id_and_time(event):
        return {k: v for k, v in event.items() if k not in ("event_id", "occurred_at")}

    assert [without_id_and_time(e) for e in events["email"]] == [
        without_id_and_time(e) for e in events["notify"]
    ]


def test_connections_share_one_ring_per_interval(v3_outbox, relay_arn, admin):
    connections = [at(v3_outbox, 0.1 + number / 10) for number in range(5)]
    for number, connection in enumerate(connections):
        insert(connection, f"from connection {number}")
    for number, connection in enumerate(connections):  # and each again: its own fast path
        insert(at(v3_outbox, 0.8, connection), f"again from connection {number}")
    with at(v3_outbox, 0.9).cursor() as cursor:
        cursor.execute("INSERT INTO things (name) SELECT CONCAT('bulk-', seq) FROM seq_1_to_500")
    assert len(calls_to(admin, v3_outbox, relay_arn)) == 1  # text 2: one per connection, 6

    # The next interval: the first connection to look rings, once.
    for connection in connections:
        insert(at(v3_outbox, 1.9, connection), "the next second")
    assert len(outbox_rows(v3_outbox)) == 515  # every row its event
    rings = calls_to(admin, v3_outbox, relay_arn)
    assert [json.loads(ring["payload"]) for ring in rings] == [{"doorbell": v3_outbox.name}] * 2


def test_a_bell_held_by_another_connection_suppresses_the_ring_until_it_is_released(
    v3_outbox, relay_arn, admin
):
    """What a connection that rang holds is what keeps the others quiet: the interval's
    bell. Held here by hand, no ring; released, the next connection to look rings."""
    neighbour = at(v3_outbox, 0.5)
    with neighbour.cursor() as cursor:
        cursor.execute(BELL, (v3_outbox.name, 0))
        (bell,) = cursor.fetchone()
        cursor.execute("SELECT GET_LOCK(%s, 0)", (bell,))
        assert cursor.fetchone() == (1,)

    insert(at(v3_outbox, 0.6), "quiet")
    insert(at(v3_outbox, 0.7), "quiet too")
    assert calls_to(admin, v3_outbox, relay_arn) == []
    assert len(outbox_rows(v3_outbox)) == 2  # the events are written all the same

    with neighbour.cursor() as cursor:
        cursor.execute("SELECT RELEASE_LOCK(%s)", (bell,))
    insert(at(v3_outbox, 0.8), "rings")
    assert len(calls_to(admin, v3_outbox, relay_arn)) == 1


def test_a_bell_is_let_go_by_a_connection_that_disconnects(v3_outbox, relay_arn, admin):
    """The shared state lives as long as the connection that rang (a restarted server has
    none): once it is gone, the next connection to look rings, in the same interval."""
    first = at(v3_outbox, 0.1)
    insert(first, "rings")
    bell = held_bell(first)
    insert(at(v3_outbox, 0.2), "quiet: the first one's bell is held")
    watcher = v3_outbox.connect()
    assert lock_holder(watcher, bell) is not None
    first.close()
    wait_for(lambda: lock_holder(watcher, bell) is None)  # the server ends the session
    insert(at(v3_outbox, 0.3), "rings again")
    assert len(calls_to(admin, v3_outbox, relay_arn)) == 2


def test_a_connection_that_went_quiet_keeps_no_one_from_ringing_later(v3_outbox, relay_arn, admin):
    """A connection that rang and stayed open holds only that interval's bell: one that
    looks in a later interval rings, and so does the first when it looks again, letting
    its old bell go (one bell at most per connection)."""
    first = at(v3_outbox, 0.1)
    insert(first, "first interval")
    first_bell = held_bell(first)
    insert(at(v3_outbox, 1.1), "a later interval")
    insert(at(v3_outbox, 2.1, first), "later still, from the first connection")
    assert len(calls_to(admin, v3_outbox, relay_arn)) == 3
    later_bell = held_bell(first)
    assert later_bell != first_bell
    with first.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (first_id,) = cursor.fetchone()
    assert (lock_holder(first, first_bell), lock_holder(first, later_bell)) == (None, first_id)


def test_many_connections_at_once_ring_once_and_never_wait_for_each_other(
    v3_outbox, relay_arn, admin
):
    """20 connections inserting at the same moment while another keeps a transaction open
    after its own insert: every INSERT returns before that transaction ends (the doorbell
    takes no row or table lock), and the relay hears one ring."""
    holder = at(v3_outbox, 0.1)
    holder.begin()
    insert(holder, "in an open transaction")
    connections = [at(v3_outbox, 0.2) for _ in range(20)]
    start = threading.Barrier(len(connections))
    done = []

    def write(connection, number):
        start.wait()
        insert(connection, f"writer {number}")
        done.append(number)

    writers = [
        threading.Thread(target=write, args=(connection, number))
        for number, connection in enumerate(connections)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(30)
    assert sorted(done) == list(range(20))  # all committed, the holder still open
    holder.commit()
    assert len(outbox_rows(v3_outbox)) == 21
    assert len(calls_to(admin, v3_outbox, relay_arn)) == 1


def test_v3_never_fails_the_insert_for_a_missing_relay(
    things, run_ops, monkeypatch, account_id, admin
):
    missing = f"arn:aws:lambda:us-east-1:{account_id}:function:nobody-deployed-this-relay"
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_RELAY", missing)
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(V3))
    insert(things.connect(), "still stored")
    with things.connect().cursor() as cursor:
        cursor.execute("SELECT name FROM things")
        assert cursor.fetchall() == (("still stored",),)
    assert len(outbox_rows(things)) == 1
    assert calls_to(admin, things, missing) == []


def test_v2_to_v3_and_back_restores_the_exact_trigger(things, run_ops, relay_arn):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(V2))
    v2_body = trigger_body(things, "things_ai_notify")
    assert "GET_LOCK" not in v2_body
    run_ops(lambda op: op.replace_lambda_trigger(V3, replaces=V2))
    v3_body = trigger_body(things, "things_ai_notify")
    assert "GET_LOCK(bell, 0)" in v3_body
    assert "'event_id', new_event_id" in v3_body
    run_ops(lambda op: op.replace_lambda_trigger(V2, replaces=V3))
    assert trigger_body(things, "things_ai_notify") == v2_body
