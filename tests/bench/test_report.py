"""The benchmark's report: ratios to no trigger, the printed table, the JSON and the chart
(the measurements themselves run in `make bench`, never in the test suite)."""

import json

from infra.bench.cold_start import ColdStartResult, FunctionColdStart
from infra.bench.inserts import FLOOR_STEPS, FloorResult, InsertResult, floor_ratios
from infra.bench.latency import LatencyResult, percentile
from infra.bench.report import insert_ratios, table, write

RESULTS = [
    InsertResult("none", 1000, 20000, 0.2, 0),
    InsertResult("direct", 1000, 20000, 5.0, 20000),
    InsertResult("outbox", 1000, 20000, 1.0, 1),
]
LATENCIES = [LatencyResult("outbox", 500, 500, 0.12, 0.3, 0.9)]
COLD = ColdStartResult(
    interpreters=20,
    boto3_ms=150.0,
    boto3_wall_ms=210.0,
    layer_bytes=2_000_000,
    functions=[
        FunctionColdStart("notify", 170.0, 20.0, 12.0, 250.0, 9_000),
        FunctionColdStart("relay", 240.5, 90.5, 70.0, 330.0, 22_000),
        FunctionColdStart("fat", 160.0, 10.0, 1.0, 220.0, 150_000),
    ],
)


def test_ratios_are_to_no_trigger_at_the_same_statement_size():
    assert insert_ratios(RESULTS) == {
        ("none", 1000): 1.0,
        ("direct", 1000): 25.0,
        ("outbox", 1000): 5.0,
    }


def test_the_table_labels_the_aurora_figure_a_projection():
    text = table(RESULTS, LATENCIES)
    assert (
        "  outbox  p50  0.120  p95  0.300  p99  0.900  (500 of 500 events; 0 INSERT(s) met a "
        "lock conflict, target: 0)"
    ) in text
    assert "       1000  direct       4000        25.00x         20000     700.0 s" in text
    assert "a projection, not a measurement" in text


def test_results_json_and_chart_are_written(tmp_path):
    json_path, chart_path = write(RESULTS, LATENCIES, tmp_path / "results")
    document = json.loads(json_path.read_text())
    assert [row["ratio_to_no_trigger"] for row in document["inserts"]] == [1.0, 25.0, 5.0]
    assert round(document["inserts"][1]["projected_aurora_seconds"], 6) == 700.0
    assert chart_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert document["commit_to_sns_seconds"][0]["p50"] == 0.12


def test_percentiles_are_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)) == (
        50.0,
        95.0,
        99.0,
    )


def test_cold_start_lines_name_what_is_over_its_target():
    text = table(RESULTS, LATENCIES, COLD)
    assert "medians of 20 fresh interpreters" in text
    assert "import boto3 alone 150.0 ms (210.0 ms wall clock); the dependencies layer 1953 KiB" in (
        text
    )
    rows = [line.split() for line in text.splitlines()[-3:]]
    assert rows == [
        ["notify", "170.0", "+20.0", "12.0", "250.0", "8.8"],
        ["relay", "240.5", "+90.5", "70.0", "330.0", "21.5", "over", "target"],
        ["fat", "160.0", "+10.0", "1.0", "220.0", "146.5", "over", "target"],
    ]
    assert COLD.over_target() == ["relay", "fat"]


def test_cold_start_goes_into_the_json(tmp_path):
    json_path, _ = write(RESULTS, LATENCIES, tmp_path / "results", cold_start=COLD)
    cold = json.loads(json_path.read_text())["cold_start"]
    assert cold["boto3_ms"] == 150.0 and cold["layer_bytes"] == 2_000_000
    assert cold["functions"][1] == {
        "function": "relay",
        "import_ms": 240.5,
        "over_boto3_ms": 90.5,
        "module_code_ms": 70.0,
        "wall_ms": 330.0,
        "zip_bytes": 22_000,
    }
    assert cold["targets"] == {"over_boto3_ms": 30.0, "zip_bytes_below": 102_400}
    assert cold["over_target"] == ["relay", "fat"]


FLOOR = [
    FloorResult("none", 20000, [0.2, 0.25, 0.3]),
    FloorResult("empty", 20000, [0.3, 0.25, 0.35]),
    FloorResult("outbox_v2", 20000, [0.7, 0.75, 0.8]),
]


def test_the_floor_is_printed_and_written_as_each_rounds_ratio_median(tmp_path):
    # empty: 1.5, 1.0, 1.1667 in the three rounds; outbox_v2: 3.5, 3.0, 2.667.
    assert {step: round(ratio, 4) for step, ratio in floor_ratios(FLOOR).items()} == {
        "none": 1.0,
        "empty": 1.1667,
        "outbox_v2": 3.0,
    }
    text = table(RESULTS, LATENCIES, floor=FLOOR)
    assert "floor: 20000 rows in 1000-row statements, 3 rounds (median rows/s; median" in text
    assert f"  {FLOOR_STEPS['outbox_v2']:52}     26667 rows/s   3.00x" in text
    json_path, _ = write(RESULTS, LATENCIES, tmp_path / "results", floor=FLOOR)
    floor = json.loads(json_path.read_text())["floor"]
    assert [(row["step"], row["median_seconds"]) for row in floor] == [
        ("none", 0.25),
        ("empty", 0.3),
        ("outbox_v2", 0.75),
    ]
    assert [round(row["ratio_to_no_trigger"], 4) for row in floor] == [1.0, 1.1667, 3.0]
