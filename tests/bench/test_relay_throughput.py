"""The relay throughput section of `make bench`: run on a tiny backlog against the test
session's stack, it delivers every event exactly once (counted from the outbox rows and
what the target received), one relay and two side by side; its report has its lines,
its JSON and its chart panel. Never its speed."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from functions.common.database import connect
from infra.bench import pipeline_report, relay_throughput
from infra.bench.relay_throughput import RelayRun, RelayThroughput
from tests.bench.test_pipeline import RESULTS

# More than two default claims (2,000 events each), so that two relays can both work.
EVENTS = 4_500


@pytest.fixture(scope="module")
def relay_database(stack):
    name = "relay_throughput"
    stack.create_database(name)
    stack.migrate(name)
    return name


def outbox_rows(stack, database: str) -> tuple[int, int, int]:
    """The outbox's rows, how many are delivered, and the most attempts of any row."""
    connection = connect(stack.app_settings(database))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*), COALESCE(SUM(delivered_at IS NOT NULL), 0), "
                "COALESCE(MAX(attempts), 0) FROM aurora_events_outbox"
            )
            return tuple(int(value) for value in cursor.fetchone())
    finally:
        connection.close()


def test_one_relay_and_two_deliver_every_event_exactly_once(stack, relay_database):
    result = relay_throughput.measure(stack, relay_database, EVENTS, rounds=1)
    # Two backlogs (one relay's, then two relays'), every row delivered at its first attempt.
    assert outbox_rows(stack, relay_database) == (2 * EVENTS, 2 * EVENTS, 1)
    assert [(run.relays, run.events) for run in result.one + result.two] == [
        (1, EVENTS),
        (2, EVENTS),
    ]
    for run in result.one + result.two:
        # What the target received: each event of the backlog, once.
        assert (run.sent, run.distinct) == (EVENTS, EVENTS)
        assert (run.delivered, run.delivered_first_attempt) == (EVENTS, EVENTS)
        assert run.delivered_once
        assert run.seconds > 0 and run.relay_cpu_seconds > 0
        assert run.server_cpu_seconds is not None  # the stack's server process is known
        assert 200 < run.payload_bytes < 1000  # an orders row event
        assert run.lock_waits >= 0 and run.lock_wait_seconds >= 0
    assert result.delivered_once and result.two_over_one > 0


def test_the_ordering_modes_key_their_backlogs_and_deliver_every_event_once(stack):
    """The ordered claim's section: each mode's backlog carries its keys (one per event, or
    HOT_ROWS of them), and each run delivers every event once."""
    name = "relay_ordering"
    stack.create_database(name)
    stack.migrate(name)
    events = 600
    cost = relay_throughput.measure_ordering(stack, name, events, rounds=1)
    assert cost.delivered_once
    assert set(cost.runs) == {mode for mode, _, _ in relay_throughput.ORDERING_MODES}
    assert all(len(runs[1]) == len(runs[2]) == 1 for runs in cost.runs.values())
    connection = connect(stack.app_settings(name))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*), COUNT(DISTINCT ordering_key), SUM(ordering_key IS NULL), "
                "SUM(delivered_at IS NULL) FROM aurora_events_outbox"
            )
            rows, keys, unkeyed, waiting = map(int, cursor.fetchone())
    finally:
        connection.close()
    # Six backlogs: four with a key per event (their orders' ids), two on the hot keys.
    assert (rows, unkeyed, waiting) == (6 * events, 0, 0)
    assert keys == 4 * events + relay_throughput.HOT_ROWS
    assert cost.over_unordered(relay_throughput.ORDERING_MODES[0][0], 1) == 1.0
    assert cost.cpu_over_unordered(relay_throughput.ORDERING_MODES[0][0], 2) == 1.0
    assert all(
        cost.cpu_per_event(mode, relays) > 0
        for mode, _, _ in relay_throughput.ORDERING_MODES
        for relays in (1, 2)
    )
    lines = pipeline_report.ordering_lines(cost)
    assert len(lines) == 1 + len(relay_throughput.ORDERING_MODES)


def test_a_relay_that_cannot_start_fails_the_run(stack, relay_database):
    wrong = replace(stack.relay_settings(relay_database), password="not-the-password")
    with pytest.raises(RuntimeError, match="a relay failed: OperationalError"):
        relay_throughput.run_relays(wrong, 2)


def run(
    relays: int, seconds: float, sent: int = 1000, delivered: int = 1000, waits: int = 0
) -> RelayRun:
    return RelayRun(
        relays=relays,
        events=1000,
        seconds=seconds,
        sent=sent,
        distinct=1000,
        delivered=delivered,
        delivered_first_attempt=delivered,
        relay_cpu_seconds=0.02 * relays,
        server_cpu_seconds=0.03,
        payload_bytes=350.0,
        lock_waits=waits,
        lock_wait_seconds=waits / 10,
    )


RELAY = RelayThroughput(
    1000, one=[run(1, 0.1), run(1, 0.2)], two=[run(2, 0.08, waits=2), run(2, 0.05, waits=4)]
)


def test_the_relay_figures_are_medians_over_rounds_with_the_cost_per_event():
    assert RELAY.one_per_second == pytest.approx(7500)  # 10,000/s and 5,000/s
    assert RELAY.two_per_second == pytest.approx(16_250)  # 12,500/s and 20,000/s
    assert RELAY.two_over_one == pytest.approx(16_250 / 7500)
    assert RELAY.one_relay_microseconds == (pytest.approx(20.0), pytest.approx(30.0))
    assert RELAY.one_relay_bound == pytest.approx(20_000)
    assert RELAY.lock_waits(RELAY.two) == (3, pytest.approx(0.3))
    assert RELAY.delivered_once
    assert not run(1, 0.1, sent=1001).delivered_once  # an event sent twice
    assert not run(1, 0.1, delivered=999).delivered_once  # an event not marked delivered


def test_the_relay_section_prints_joins_results_json_and_draws_its_panel(tmp_path):
    results = replace(RESULTS, relay=RELAY)
    text = pipeline_report.table(results)
    assert "one relay       7500  (5000-10000; target 5,000)" in text
    assert "two relays     16250  (12500-20000; 2.17x one (target 1.7x))" in text
    assert "relay CPU 20.0 us + server CPU 30.0 us" in text
    assert "at most 20,000/s on an idle machine" in text
    assert "row lock waits a run (medians): one relay 0 (0.00 s), two relays 3 (0.30 s)" in text
    assert "NOT every event" not in text
    assert "NOT every event" in pipeline_report.table(
        replace(results, relay=replace(RELAY, two=[run(2, 0.05, sent=1001)]))
    )
    json_path, chart_path = pipeline_report.write(results, tmp_path)
    section = json.loads(json_path.read_text())["pipeline"]["relay_throughput"]
    assert section["one_relay_events_per_second"] == pytest.approx(7500)
    assert section["two_over_one"] == pytest.approx(16_250 / 7500)
    assert [r["events_per_second"] for r in section["two_relays"]] == [
        pytest.approx(12_500),
        pytest.approx(20_000),
    ]
    assert section["targets"] == {"one_relay_events_per_second": 5000.0, "two_over_one": 1.7}
    assert section["delivered_once"] is True
    assert section["median_row_lock_waits"] == {"one_relay": 0, "two_relays": 3}
    assert section["two_relays"][1]["lock_waits"] == 4
    assert chart_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Without the relay section (an older results object), no key and no panel.
    assert "relay_throughput" not in pipeline_report.document_of(RESULTS)
