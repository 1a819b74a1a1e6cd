"""``aurora-events outbox`` and ``outbox replay`` as a user runs them, against a database
whose outbox a relay (with stand-in targets) has worked: counts, the parked event, and a
replay that the next relay run delivers again under the same event id."""

import re

import pytest

from functions.relay.delivery import RelaySettings
from functions.relay.outbox import OutboxStore
from functions.relay.runs import run_relay
from infra.cli import main, since_time
from tests.functions.test_relay import Targets, add_events, table

# One attempt, then parked: the failing event is parked by the first run.
ONE_TRY = RelaySettings(max_attempts=1, lease_seconds=60)


def relay_once(database, targets) -> None:
    connection = database.connect()
    try:
        run_relay(OutboxStore(connection), targets, ONE_TRY)
    finally:
        connection.close()


@pytest.fixture
def worked(outbox, monkeypatch):  # noqa: F811 (the fixture imported above)
    """Five events: three delivered, one parked (its target refused delivery), and one
    written after the run (waiting); DATABASE_URL names the database."""
    ids = add_events(outbox, 4)
    failing = ids[2]
    relay_once(
        outbox, Targets(lambda target, event: "fail" if event["event_id"] == failing else None)
    )
    ids += add_events(outbox, 1)
    monkeypatch.setenv("DATABASE_URL", outbox.url)
    return outbox, ids, failing


def status_lines(capsys) -> list[str]:
    return [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]


def test_outbox_shows_due_parked_delivered_and_the_oldest_waiting(capsys, worked):
    assert main(["outbox"]) == 0
    lines = status_lines(capsys)
    assert lines[:4] == [
        "due now 1",
        "in flight / backing off 0",
        "parked 1",
        "delivered (kept) 3",
    ]
    assert re.fullmatch(r"oldest waiting \d+\.\d s", lines[4])
    assert lines[5] == "parked, by error (events, target, last parked, error):"
    assert re.fullmatch(
        r"1 arn:target-a \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
        r"reported as failed by the target: boom \(after 1 attempts\)",
        lines[6],
    )
    assert lines[7:] == [
        "parked events wait for: aurora-events outbox replay --since <time> --parked"
    ]


def test_outbox_shows_the_parked_events_errors_most_common_first(capsys, outbox, monkeypatch):
    """Three events refused by one target, two failing at another: two lines, the refusal
    first, each with when its target last parked an event."""
    ids = add_events(outbox, 5, targets=("arn:refuses",))
    ids += add_events(outbox, 2, targets=("arn:fails",))
    refused, failing = set(ids[:3]), set(ids[5:])

    def behaviour(target, event):
        if event["event_id"] in refused:
            return "reject"
        return "fail" if event["event_id"] in failing else None

    relay_once(outbox, Targets(behaviour))
    with outbox.connect().cursor() as cursor:
        cursor.execute(
            "SELECT target_function, MAX(parked_at) FROM aurora_events_outbox "
            "WHERE parked_at IS NOT NULL GROUP BY target_function"
        )
        newest = {target: f"{at:%Y-%m-%d %H:%M:%S}" for target, at in cursor.fetchall()}
    monkeypatch.setenv("DATABASE_URL", outbox.url)
    assert main(["outbox"]) == 0
    lines = status_lines(capsys)
    assert lines[2:4] == ["parked 5", "delivered (kept) 2"]
    assert lines[5:] == [
        "parked, by error (events, target, last parked, error):",
        f"3 arn:refuses {newest['arn:refuses']} UTC "
        "rejected by the target: no such table in this schema",
        f"2 arn:fails {newest['arn:fails']} UTC "
        "reported as failed by the target: boom (after 1 attempts)",
        "parked events wait for: aurora-events outbox replay --since <time> --parked",
    ]


def test_replay_of_the_parked_event_makes_the_relay_send_it_again_with_its_id(capsys, worked):
    database, ids, failing = worked
    assert main(["outbox", "replay", "--since", "1h", "--parked"]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"1 event\(s\) \(parked since \S+ \S+ UTC\) due again; the relay sends them with "
        r"the same event_id\n",
        out,
    )
    targets = Targets()
    relay_once(database, targets)
    assert sorted(targets.sent()) == sorted([failing, ids[4]])
    assert all(row["delivered"] and not row["parked"] for row in table(database))

    # By id: a delivered event is sent again, with the same id.
    assert main(["outbox", "replay", "--id", ids[0], "--id", ids[1]]) == 0
    assert capsys.readouterr().out == (
        "2 event(s) (of 2 named) due again; the relay sends them with the same event_id\n"
    )
    targets = Targets()
    relay_once(database, targets)
    assert sorted(targets.sent()) == sorted(ids[:2])


def test_replay_refuses_what_it_cannot_do(capsys, worked, monkeypatch):
    for argv, message in (
        (["outbox", "replay"], "outbox replay: give --id ID (repeatable) or --since TIME"),
        (
            ["outbox", "replay", "--id", "x", "--since", "1h"],
            "outbox replay: give --id ID (repeatable) or --since TIME",
        ),
        (
            ["outbox", "replay", "--id", "x", "--parked"],
            "outbox replay: --parked goes with --since (--id names the events)",
        ),
        (
            ["outbox", "replay", "--since", "yesterday"],
            "--since 'yesterday': give a UTC time (2026-05-01T10:00:00) or a duration back "
            "from now (30m, 2h, 1d)",
        ),
    ):
        assert main(argv) == 2
        assert capsys.readouterr().err == f"aurora-events: {message}\n"
    monkeypatch.delenv("DATABASE_URL")
    assert main(["outbox"]) == 2
    assert capsys.readouterr().err == (
        "aurora-events: give --database-url, or set DATABASE_URL (mysql://user:…@host/db)\n"
    )


def test_a_database_without_an_outbox_is_named(capsys, database):
    assert main(["outbox", "--database-url", database.url]) == 2
    assert capsys.readouterr().err == (
        f"aurora-events: no outbox in database {database.name!r}: a revision with "
        "op.create_event_outbox() creates it (alembic upgrade head)\n"
    )


def test_since_takes_a_utc_time_or_a_duration():
    from datetime import datetime

    now = datetime(2026, 5, 1, 12, 0, 0)
    assert since_time("90m", now) == "2026-05-01 10:30:00.000000"
    assert since_time("2026-05-01T10:00:00Z") == "2026-05-01 10:00:00.000000"
    assert since_time("2026-05-01 12:00:00+02:00") == "2026-05-01 10:00:00.000000"
