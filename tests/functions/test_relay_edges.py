"""The relay at its edges, on the real server: events that can never be sent (a payload
that does not decode, one over the size limit) parked at once with the reason while the
others go through once; big events within a bounded memory; leases that belong to the
claim that took them; attempts that count sends, not claims."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid

from functions.relay.delivery import RelaySettings
from functions.relay.outbox import OutboxStore
from functions.relay.runs import run_relay
from tests.functions.test_relay import Targets, add_events, store, table

BIG_EVENT_BYTES = 300_000
HUGE_EVENT_BYTES = 7_000_000  # over Lambda's 6 MB for a synchronous call
# What one relay run may take in all (peak resident memory of the process that runs it),
# with 50 events of 300 KB and one of 7 MB among 2,000 ordinary ones: docs/alembic.md states it
# (measured: about 49 MB, of which about 32 MB is the interpreter and its imports).
PEAK_MEMORY_BOUND_MB = 80


def insert_raw(database, rows: list[tuple[str, str, str]]) -> None:
    """Outbox rows as (event_id, target, payload), due now, in this order."""
    with database.connect().cursor() as cursor:
        cursor.executemany(
            "INSERT INTO aurora_events_outbox (event_id, target_function, payload, created_at, "
            "next_attempt_at) VALUES (%s, %s, %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            rows,
        )


def event_of_size(size: int) -> tuple[str, str]:
    event_id = str(uuid.uuid4())
    padding = "x" * max(size - 80, 0)
    return event_id, json.dumps({"event_id": event_id, "padding": padding})


def mixed_backlog(database) -> dict[str, list[str]]:
    """2,000 ordinary events, a payload that does not decode, one 7 MB event and 50 of
    300 KB among them; the ids of each kind."""
    kinds = {"ordinary": [], "bad": [], "huge": [], "big": []}
    rows = []
    for n in range(2000):
        if n == 500:
            bad_id = str(uuid.uuid4())
            rows.append((bad_id, "arn:target-a", "{"))
            kinds["bad"].append(bad_id)
        if n == 1000:
            huge_id, payload = event_of_size(HUGE_EVENT_BYTES)
            rows.append((huge_id, "arn:target-a", payload))
            kinds["huge"].append(huge_id)
        if n % 40 == 0:
            big_id, payload = event_of_size(BIG_EVENT_BYTES)
            rows.append((big_id, "arn:target-a", payload))
            kinds["big"].append(big_id)
        event_id = str(uuid.uuid4())
        rows.append((event_id, "arn:target-a", json.dumps({"event_id": event_id, "n": n})))
        kinds["ordinary"].append(event_id)
    for start in range(0, len(rows), 200):  # under the server's max_allowed_packet
        insert_raw(database, rows[start : start + 200])
    return kinds


def test_bad_and_oversized_events_are_parked_at_once_and_hold_up_nothing(outbox):
    kinds = mixed_backlog(outbox)
    targets = Targets()
    summary = run_relay(store(outbox), targets, RelaySettings())
    sent = targets.sent()
    assert sorted(sent) == sorted(kinds["ordinary"] + kinds["big"])  # each once
    assert (summary.parked, summary.retried, summary.lease_lost) == (2, 0, 0)
    by_id = {row["event_id"]: row for row in table(outbox)}
    (bad,) = [by_id[event_id] for event_id in kinds["bad"]]
    (huge,) = [by_id[event_id] for event_id in kinds["huge"]]
    assert bad["parked"] and bad["last_error"].startswith("payload does not decode as JSON")
    assert bad["attempts"] == 0  # never sent
    assert huge["parked"] and huge["attempts"] == 0
    assert huge["last_error"] == (
        f"event of {len(event_of_size(HUGE_EVENT_BYTES)[1])} bytes is over the "
        f"{RelaySettings().max_event_bytes}-byte limit of one invocation"
    )
    # Nothing parked is claimed again.
    assert run_relay(store(outbox), targets, RelaySettings()).claimed == 0


def test_a_run_over_big_events_stays_within_its_memory_bound(outbox):
    """The relay's peak memory (the high-water mark of resident memory, VmHWM, of a process
    that runs one relay over the mixed backlog) stays under the bound docs/alembic.md states:
    payloads are loaded an invocation at a time, never a claim's worth. (ru_maxrss would
    count the forking test process's memory: Linux keeps it across exec.)"""
    mixed_backlog(outbox)
    program = textwrap.dedent(
        f"""
        import json, re
        from functions.common.database import connect, parse_database_url
        from functions.relay.delivery import RelaySettings
        from functions.relay.outbox import OutboxStore
        from functions.relay.runs import run_relay

        sent = []
        def target(name, events):
            sent.extend(event["event_id"] for event in events)
            json.dumps({{"events": events}})  # as the handler encodes the request
            return {{"batchItemFailures": []}}

        connection = connect(parse_database_url({outbox.url!r}), autocommit=True)
        summary = run_relay(OutboxStore(connection), target, RelaySettings())
        with open("/proc/self/status") as status:
            peak_mb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) / 1024
        print(json.dumps({{"sent": len(sent), "parked": summary.parked, "peak_mb": peak_mb}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=240, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["sent"], report["parked"]) == (2050, 2)
    assert report["peak_mb"] < PEAK_MEMORY_BOUND_MB, report


def test_a_lease_belongs_to_the_claim_that_took_it(outbox):
    """A claims with a 0.2 s lease, which runs out; B claims the same rows with a 10 s
    lease; nothing A records changes them, and C's claim finds nothing while B holds them."""
    ids = add_events(outbox, 5, targets=("arn:target-a",))
    a, b, c = store(outbox), store(outbox), store(outbox)
    claim_a = a.claim(10, 0.2, max_bytes=10**9, max_event_bytes=10**9)
    assert [row.event_id for row in claim_a.rows] == ids
    with outbox.connect().cursor() as cursor:  # let A's lease run out by the server's clock
        cursor.execute("SELECT SLEEP(0.3)")
    claim_b = b.claim(10, 10, max_bytes=10**9, max_event_bytes=10**9)
    assert [row.event_id for row in claim_b.rows] == ids
    assert claim_b.lease.token > claim_a.lease.token
    sequences = [row.sequence for row in claim_a.rows]
    before = table(outbox)
    assert a.retry_later(claim_a.lease, sequences, 60, "A's late failure") == 0
    assert a.start_attempt(claim_a.lease, sequences) == 0
    assert a.mark_delivered(claim_a.lease, sequences) == 0
    assert a.park(claim_a.lease, sequences, "A's late verdict") == 0
    assert a.release(claim_a.lease, sequences, attempted=False) == 0
    assert a.load_payloads(claim_a.lease, sequences) == {}
    assert table(outbox) == before  # B's lease is untouched
    assert c.claim(10, 10, max_bytes=10**9, max_event_bytes=10**9) is None
    assert b.mark_delivered(claim_b.lease, sequences) == 5  # B's token still holds


def test_a_run_that_lost_its_lease_sends_nothing_more_and_records_nothing(outbox):
    """Relay A's first call outlasts its lease and B re-claims meanwhile: A's answer is
    dropped (B's lease decides), A sends no further invocation, and every event reaches
    the target from B."""
    ids = add_events(outbox, 20, targets=("arn:target-a",))
    settings = RelaySettings(
        events_per_invocation=10,
        lease_seconds=0.3,
        target_connect_timeout_seconds=0.05,
        target_timeout_seconds=0.1,
    )
    targets = Targets()
    b_summaries = []

    def slow_then_b(target, events):
        if not b_summaries:  # A's first call: B claims everything once A's lease is over
            with outbox.connect().cursor() as cursor:
                cursor.execute("SELECT SLEEP(0.35)")
            b_summaries.append(run_relay(store(outbox), targets, settings))
        return targets(target, events)

    a_summary = run_relay(store(outbox), slow_then_b, settings)
    assert sorted(targets.sent()) == sorted(ids + ids[:10])  # A's first call, then B's all
    assert b_summaries[0].delivered == 20
    assert (a_summary.delivered, a_summary.lease_lost, a_summary.invocations) == (10, 20, 1)
    rows = table(outbox)
    assert all(row["delivered"] for row in rows)
    assert [row["attempts"] for row in rows] == [2] * 10 + [1] * 10  # A's send counted too


def test_attempts_count_sends_not_claims(outbox):
    """Rows claimed 8 times without being sent (each claim released them), then one failed
    send: the event is retried, not parked, and its attempts say 1."""
    add_events(outbox, 1, targets=("arn:target-a",))
    relay = store(outbox)
    for _ in range(8):
        claim = relay.claim(10, 60, max_bytes=10**9, max_event_bytes=10**9)
        assert relay.release(claim.lease, [row.sequence for row in claim.rows], False) == 1
    failing = Targets(lambda target, event: "fail")
    summary = run_relay(relay, failing, RelaySettings(max_attempts=8))
    assert (summary.retried, summary.parked) == (1, 0)
    (row,) = table(outbox)
    assert (row["attempts"], row["parked"], row["waiting"]) == (1, 0, 1)
    assert row["last_error"] == "reported as failed by the target: boom"


def test_a_claim_is_bounded_by_bytes_as_well_as_rows(outbox):
    for _ in range(5):
        event_id, payload = event_of_size(BIG_EVENT_BYTES)
        insert_raw(outbox, [(event_id, "arn:target-a", payload)])
    relay = OutboxStore(outbox.connect())
    claim = relay.claim(2000, 60, max_bytes=2 * BIG_EVENT_BYTES + 100, max_event_bytes=10**9)
    assert len(claim.rows) == 2  # the third would go over the bytes
    assert all(row.payload_bytes >= BIG_EVENT_BYTES - 100 for row in claim.rows)


def test_rows_taken_between_loading_and_sending_are_not_sent(outbox):
    """Another relay re-claims one row after this one loaded its invocation's payloads and
    before it counted the attempt: nothing of the invocation is sent, the rows this lease
    still holds are due again at once with no attempt used, and the taken row keeps the
    other lease."""
    add_events(outbox, 3, targets=("arn:target-a",))
    other = outbox.connect(autocommit=True)

    class RacedStore(OutboxStore):
        def start_attempt(self, lease, sequences):
            with other.cursor() as cursor:  # the other relay's claim of one row
                cursor.execute(
                    "UPDATE aurora_events_outbox SET next_attempt_at = UTC_TIMESTAMP(6) "
                    "+ INTERVAL 1 HOUR WHERE sequence = %s",
                    (sequences[0],),
                )
            return super().start_attempt(lease, sequences)

    targets = Targets()
    summary = run_relay(
        RacedStore(outbox.connect()),
        targets,
        RelaySettings(),
        time_left=iter([float("inf"), 0]).__next__,
    )
    assert targets.calls == []
    assert (summary.lease_lost, summary.released, summary.invocations) == (1, 2, 0)
    rows = table(outbox)
    assert [(r["attempts"], r["waiting"], r["delivered"]) for r in rows] == [
        (0, 1, 0),  # the other relay's
        (0, 0, 0),
        (0, 0, 0),
    ]
