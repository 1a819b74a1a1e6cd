"""The pipeline sections of `make bench`: their arithmetic (window rates, slopes), their
report (table, JSON, chart), and the sections themselves run on tiny sizes against the
test session's stack, asserting what they counted (rows, deliveries), never their times."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from functions.common.database import connect
from infra.bench import drain_throughput, pipeline, pipeline_report
from infra.bench.drain_throughput import DrainThroughput
from infra.bench.inserts import InsertResult
from infra.bench.pipeline import (
    IngestLatencyResult,
    SustainedResult,
    spread_over_claims,
    window_rates,
)
from infra.bench.pipeline_sections import PipelineResults
from infra.bench.scaling import ScalingPoint, slope


def test_window_rates_count_from_the_start_and_keep_shared_times_together():
    # 1,000 events at t=2 (one relay invocation marks them at once), 1,000 spread over
    # t=3..4, then 500 more at t=5 (joining the last window).
    arrivals = [2.0] * 1000 + [3.0 + n / 1000 for n in range(1000)] + [5.0] * 500
    rates = window_rates(0.0, arrivals, window=1000)
    assert len(rates) == 2
    assert rates[0] == pytest.approx(1000 / 2.0)
    assert rates[1] == pytest.approx(1500 / 3.0)


def test_window_rates_of_too_few_events_are_one_window():
    assert window_rates(10.0, [11.0, 12.0], window=1000) == [1.0]
    assert window_rates(10.0, []) == []


def point(rows: int, per_row: float) -> ScalingPoint:
    seconds = rows * per_row / 1e6
    return ScalingPoint(
        rows,
        [
            InsertResult("none", 10, rows, seconds, 0),
            InsertResult("outbox", 10, rows, 2 * seconds, 1),
        ],
        DrainThroughput(rows, 3 * seconds, seconds, None),
    )


def test_slope_is_the_largest_size_s_per_row_cost_over_the_smallest_s():
    assert slope([point(1000, 10.0), point(10_000, 10.0), point(100_000, 15.0)]) == {
        "insert none": pytest.approx(1.5),
        "insert outbox": pytest.approx(1.5),
        "drain handler": pytest.approx(1.5),
        "drain limit": pytest.approx(1.5),
    }


RESULTS = PipelineResults(
    ingest=IngestLatencyResult(500, 500, 0.05, 0.09, 0.2),
    sustained=[SustainedResult("outbox", 2000, 2000, 2000, 100, 10.0, 0, [210.0, 190.0])],
    drain=DrainThroughput(20_000, 4.0, 2.0, 10.0, 3.0),
    scaling=[point(1000, 10.0), point(10_000, 11.0)],
)


def test_the_pipeline_report_prints_each_section_and_its_targets():
    text = pipeline_report.table(RESULTS)
    assert "p50  0.050  p95  0.090  p99  0.200  (500 of 500 requests" in text
    assert "2000 of 2000 delivered, 2000 at the subscriber" in text
    assert "first/last window 1.11x (target: within 2x)" in text
    assert "handler 0.50x of it (target: 0.8x)" in text
    assert "handler 2.50x of it (target: 5x)" in text
    assert "handler 0.75x of it (SELECT of stored keys + INSERT)" in text
    assert "1.10x" in text  # the slope


def test_the_pipeline_sections_join_results_json_and_draw_their_chart(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"inserts": []}))
    json_path, chart_path = pipeline_report.write(RESULTS, tmp_path)
    document = json.loads(json_path.read_text())
    assert document["inserts"] == []  # the other sections' part is kept
    section = document["pipeline"]
    assert set(section) == {"ingest_to_row_seconds", "sustained", "drain_throughput", "scaling"}
    assert section["sustained"][0]["window_rates"] == [210.0, 190.0]
    assert section["drain_throughput"]["handler_of_the_limit"] == 0.5
    assert section["drain_throughput"]["handler_of_its_statements"] == 0.75
    assert section["scaling"]["slope"]["drain limit"] == pytest.approx(1.1)
    assert chart_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def count_rows(stack, table: str) -> int:
    connection = connect(stack.app_settings())
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            return cursor.fetchone()[0]
    finally:
        connection.close()


@pytest.mark.parametrize("mode, events", [("outbox", 150), ("direct", 20)])
def test_the_sustained_rate_counts_every_event_delivered(migrated_stack, mode, events):
    table = {"outbox": "orders", "direct": "customer_feedback"}[mode]
    before = count_rows(migrated_stack, table)
    result = pipeline.sustained_rate(migrated_stack, mode, events, commit_rows=50)
    assert count_rows(migrated_stack, table) - before == events
    assert (result.events, result.delivered, result.received) == (events, events, events)
    assert result.lock_conflicts == 0  # the relay never fails a user's INSERT
    assert len(result.window_rates) == 1  # fewer than a window's events: one window


def test_ingest_latency_times_every_request_to_its_row(migrated_stack):
    before = count_rows(migrated_stack, "orders")
    result = pipeline.ingest_latency(migrated_stack, 5, spacing_seconds=0.01)
    assert (result.requests, result.stored) == (5, 5)
    assert count_rows(migrated_stack, "orders") - before == 5
    assert 0 < result.p50 <= result.p95 <= result.p99


def test_drain_throughput_writes_each_way_s_rows(migrated_stack):
    migrated_stack.create_database("drain_throughput")
    migrated_stack.migrate("drain_throughput")
    result = drain_throughput.measure(migrated_stack, "drain_throughput", 50, rounds=2)
    connection = connect(migrated_stack.app_settings("drain_throughput"))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT SUBSTRING_INDEX(SUBSTRING_INDEX(idempotency_key, '-', 1), ':', 1), "
                "COUNT(*) FROM orders GROUP BY 1 ORDER BY 1"
            )
            written = dict(cursor.fetchall())
    finally:
        connection.close()
    # The handler's rows (and one warm-up batch: stored under scoped keys, s1:...), the
    # limit's (and its warm-up), the naive way's, the drain's statements alone.
    assert written == {"s1": 50 + 10, "plain": 50 + 10 + 50, "statements": 50}
    assert result.rows == 50 and None not in (result.naive_seconds, result.statements_seconds)


def test_outbox_deliveries_spread_over_their_claims():
    base = datetime(2026, 1, 1)
    lease = timedelta(seconds=120)
    # Two claims: 4 events claimed at 0 s, delivered at 4 s; 2 claimed at 3 s, delivered
    # at 5 s; one event not delivered yet.
    rows = (
        [(base + lease, base + timedelta(seconds=4))] * 4
        + [(base + lease + timedelta(seconds=3), base + timedelta(seconds=5))] * 2
        + [(base + lease + timedelta(seconds=3), None)]
    )
    offsets = [(t - base).total_seconds() for t in spread_over_claims(rows, lease)]
    assert offsets == [1.0, 2.0, 3.0, 4.0, 4.0, 5.0]
