"""The UPDATE section's tables and triggers do what it says (a real server; the timings
themselves are make bench's, never asserted here)."""

import json

from functions.common.database import connect, parse_database_url
from infra.bench import updates
from infra.bench.latency import LatencyResult

ROWS = 50


def test_each_update_mode_sends_what_it_says(database, stack, admin):
    updates.prepare(database.url, ROWS)
    results = updates.measure(database.url, admin, database.name, ROWS, rounds=1)
    by = {(r.mode, r.rows_per_statement): r for r in results}
    assert set(by) == {(m, s) for m in updates.MODES for s in updates.STATEMENT_SIZES}
    assert all(r.rows == ROWS and len(r.seconds) == 1 for r in results)
    for size in updates.STATEMENT_SIZES:
        assert by[("none", size)].invocations == 0
        assert by[("direct", size)].invocations == ROWS  # one lambda_async a changed row
    # The outbox mode's calls are the doorbell: a few, not one a row.
    doorbells = sum(by[("outbox", size)].invocations for size in updates.STATEMENT_SIZES)
    assert 1 <= doorbells < ROWS
    connection = connect(parse_database_url(database.url))
    try:
        with connection.cursor() as cursor:
            for mode in updates.MODES:
                cursor.execute(f"SELECT DISTINCT customer_name FROM upd_{mode}")
                assert cursor.fetchall() == (("round 0 size 1000",),)
            updates._update(connection, "outbox", ROWS, 1000, "once more")
            cursor.execute("SELECT payload, ordering_key FROM aurora_events_outbox")
            rows = cursor.fetchall()
    finally:
        connection.close()
    events = [json.loads(payload) for payload, _ in rows]
    assert [e["operation"] for e in events] == ["UPDATE"] * ROWS
    assert {e["after"]["customer_name"] for e in events} == {"once more"}
    assert all(e["changed"] == ["customer_name"] for e in events)
    assert len({key for _, key in rows}) == ROWS


RESULTS = [
    updates.UpdateResult(mode, size, ROWS, [seconds], 0)
    for size in updates.STATEMENT_SIZES
    for mode, seconds in zip(updates.MODES, (1.0, 3.0, 2.0), strict=True)
]
LATENCIES = [
    LatencyResult("outbox UPDATE", 200, 200, 0.068, 0.109, 0.118),
    LatencyResult("direct UPDATE", 200, 199, 0.031, 0.052, 0.4),
]


def test_the_report_gives_each_modes_update_latency():
    results, latencies = RESULTS, LATENCIES
    out = updates.lines(results, latencies)
    assert "   1000 row(s)/statement  direct    3.000 s   3.00x  lambda_async calls 0" in out
    assert out[-2:] == [
        "commit -> SNS, outbox UPDATE: p50 0.068 s, p95 0.109 s, p99 0.118 s (200/200 received)",
        "commit -> SNS, direct UPDATE: p50 0.031 s, p95 0.052 s, p99 0.400 s (199/200 received)",
    ]


def test_the_section_is_added_to_results_json_next_to_what_is_there(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"inserts": ["kept"]}))
    json_path = updates.write(RESULTS, LATENCIES, tmp_path)
    document = json.loads(json_path.read_text())
    assert document["inserts"] == ["kept"]
    statements = {
        (r["mode"], r["rows_per_statement"]): r for r in document["updates"]["statements"]
    }
    assert statements[("direct", 1000)]["ratio_to_no_trigger"] == 3.0
    assert statements[("outbox", 1)]["median_seconds"] == 2.0
    assert [r["p50"] for r in document["updates"]["commit_to_sns_seconds"]] == [0.068, 0.031]
