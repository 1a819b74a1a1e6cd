"""The drain's batch processor, with a fake database: which messages return to the queue,
and when the invocation raises instead."""

from __future__ import annotations

import pytest

from functions.drain.processor import RETURNED_TO_THE_QUEUE, DatabaseUnavailable, DrainProcessor


class FakeDatabase:
    """Writes bodies in one "transaction"; a body ``bad*`` is bad data, ``down*`` an outage."""

    def __init__(self) -> None:
        self.stored: list[str] = []
        self.transactions = 0

    def write(self, messages: list[tuple[str, str]]) -> None:
        bodies = [body for _, body in messages]
        self.transactions += 1
        if any(body.startswith("bad") for body in bodies):  # read before connecting
            raise ValueError("bad data")
        if any(body.startswith("down") for body in bodies):
            raise DatabaseUnavailable('(2003, "Can\'t connect to MySQL server")')
        self.stored.extend(bodies)


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message, extra=None):
        self.lines.append(message)

    warning = info

    def debug(self, message, extra=None):
        self.lines.append(f"debug: {message}")


def record(message_id: str, body: str, group: str) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": "r",
        "body": body,
        "attributes": {"MessageGroupId": group},
        "eventSource": "aws:sqs",
    }


def drain(records: list[dict]) -> tuple[dict, FakeDatabase, Log]:
    database, log = FakeDatabase(), Log()
    processor = DrainProcessor(write_batch=database.write, log=log)
    with processor(records, lambda record: database.write([(record.message_id, record.body)])):
        processor.process()
    return processor.response(), database, log


def test_a_good_batch_is_one_transaction():
    response, database, log = drain([record("1", "a", "g1"), record("2", "b", "g2")])
    assert response == {"batchItemFailures": []}
    assert (database.stored, database.transactions) == (["a", "b"], 1)
    assert log.lines == ["debug: batch written"]


def test_an_empty_batch_is_an_empty_answer():
    assert drain([])[0] == {"batchItemFailures": []}


def test_bad_data_falls_back_and_stops_only_its_group():
    records = [
        record("1", "a", "g1"),
        record("2", "bad", "g2"),
        record("3", "c", "g2"),  # behind the bad one in its group: not tried
        record("4", "d", "g3"),
    ]
    response, database, log = drain(records)
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}
    assert database.stored == ["a", "d"]
    assert log.lines == ["batch holds bad data; writing message by message"]


def test_a_batch_of_bad_data_only_reports_every_message_without_raising():
    response, _, _ = drain([record("1", "bad", "g1"), record("2", "bad2", "g2")])
    assert response == {"batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "2"}]}


def test_an_outage_raises_and_the_processor_serves_the_next_batch():
    database, log = FakeDatabase(), Log()
    processor = DrainProcessor(write_batch=database.write, log=log)
    with (
        pytest.raises(DatabaseUnavailable, match="Can't connect"),
        processor([record("1", "down", "g1"), record("2", "b", "g2")], lambda r: None),
    ):
        processor.process()
    assert (database.stored, database.transactions) == ([], 1)
    assert log.lines == [RETURNED_TO_THE_QUEUE]
    with processor([record("3", "c", "g1")], lambda r: database.write([(r.message_id, r.body)])):
        processor.process()
    assert processor.response() == {"batchItemFailures": []}


def test_an_outage_during_the_fallback_with_nothing_written_raises():
    with pytest.raises(DatabaseUnavailable):
        drain([record("1", "bad", "g1"), record("2", "down", "g2")])


def test_an_outage_during_the_fallback_after_a_write_reports_the_rest():
    response, database, _ = drain(
        [
            record("1", "a", "g1"),
            record("2", "bad", "g2"),
            record("3", "down", "g3"),
        ]
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}
    assert database.stored == ["a"]
