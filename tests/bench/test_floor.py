"""The floor's tables and triggers do what their steps say (a real server; the timings
themselves are make bench's, never asserted here)."""

import json

from infra.bench import inserts


def count(cursor, table: str) -> int:
    cursor.execute(f"SELECT COUNT(*) FROM {table}")
    return cursor.fetchone()[0]


def test_each_floor_step_writes_what_it_says(database, stack):
    inserts.prepare(database.url)
    inserts.prepare_floor(database.url)
    results = inserts.measure_floor(database.url, rows=1500, rounds=1)

    assert [r.step for r in results] == list(inserts.FLOOR_STEPS)
    assert all(r.rows == 1500 and len(r.seconds) == 1 for r in results)
    with database.connect().cursor() as cursor:
        # Each step's table holds its last run's rows (emptied before each run).
        for step in inserts.FLOOR_STEPS:
            assert count(cursor, f"floor_{step}") == 1500
        # One constant row per row where the step inserts one; the empty and the JSON-only
        # triggers write nothing.
        assert count(cursor, "floor_pk_only") == 1500
        assert count(cursor, "floor_outbox_copy") == 1500
        # outbox_v2 ran last and emptied the outbox first: its events, one per row.
        cursor.execute("SELECT event_id, payload FROM aurora_events_outbox ORDER BY sequence")
        rows = cursor.fetchall()
    events = [json.loads(payload) for _, payload in rows]
    assert [event["table"] for event in events] == ["floor_outbox_v2"] * 1500
    assert [event_id for event_id, _ in rows] == [event["event_id"] for event in events]
    assert [event["row"]["id"] for event in events] == list(range(1, 1501))
