"""The bench's doorbell section inserts what its steps say and counts the doorbells (a
real server; the timings themselves are make bench's, never asserted here)."""

from infra.bench import inserts, report


def test_each_doorbell_step_writes_its_rows_and_counts_its_rings(database, stack, admin):
    inserts.prepare(database.url)
    inserts.prepare_doorbell(database.url)
    results = inserts.measure_doorbell(database.url, admin, database.name, rows=300, rounds=2)

    assert [r.step for r in results] == list(inserts.DOORBELL_STEPS)
    assert all(r.rows == 300 and len(r.seconds) == 2 for r in results)
    with database.connect().cursor() as cursor:
        for step in inserts.DOORBELL_STEPS:  # each table its last round's rows
            cursor.execute(f"SELECT COUNT(*) FROM doorbell_{step}")
            assert cursor.fetchone() == (300,)
        # The second round runs the steps in reverse: outbox_v2 was the last to empty the
        # outbox and fill it, one event per row.
        cursor.execute("SELECT JSON_VALUE(payload, '$.table'), COUNT(*) FROM aurora_events_outbox")
        assert cursor.fetchall() == (("doorbell_outbox_v2", 300),)
    rings = {r.step: r.rings for r in results}
    # Each run on a connection of its own, whose first row looks: text 2 rings in each
    # run, text 3 at least in its first (the database's bell free), no trigger never.
    assert (rings["none"], rings["outbox_v2"] >= 2, rings["outbox_v3"] >= 1) == (0, True, True)
    lines = report.doorbell_lines(results)
    assert lines[0].startswith("doorbell: 300 rows one a statement, one connection a run, 2 rounds")
    assert "text 3 - text 2, paired in each round:" in lines[-1]


def test_text_3_against_text_2_is_paired_round_by_round():
    def result(step, *seconds):
        return inserts.DoorbellResult(step, 100, list(seconds))

    results = [
        result("none", 1.0, 2.0, 4.0),
        result("outbox_v2", 2.0, 4.0, 8.0),
        result("outbox_v3", 2.0625, 4.125, 6.0),
    ]
    # (3 - 2) / none each round: +0.0625, +0.0625, -0.5; the median of them.
    assert inserts.doorbell_difference(results) == 0.0625
    assert report.doorbell_lines(results)[-1] == (
        "  text 3 - text 2, paired in each round: +0.06x no trigger (target: at most +0.1x): met"
    )
    results[2] = result("outbox_v3", 2.25, 4.5, 8.0)  # +0.25, +0.25, 0
    assert report.doorbell_lines(results)[-1].endswith("(target: at most +0.1x): NOT met")
