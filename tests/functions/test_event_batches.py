"""The batch contract between the relay and its targets, on the targets' side: the
shared row-event handler takes ``{"events": [...]}`` and answers per event."""

import pytest
from aws_lambda_powertools import Logger

from functions.common.event_batches import REASON_CHARS, UnreadableAnswer, read_batch_answer
from functions.common.handlers import row_event_handler
from infra.local.lambda_worker import LambdaContext
from tests.support import ClockedContext, FakeClock


def event(n: int, **change) -> dict:
    return {
        "version": 1,
        "event_id": f"00000000-0000-0000-0000-00000000000{n}",
        "occurred_at": "2026-01-01T00:00:00.000000Z",
        "database": "shop",
        "table": "orders",
        "operation": "INSERT",
        "delivery": "outbox",
        "primary_key": {"id": n},
        "row": {"id": n},
        **change,
    }


def test_a_batch_is_delivered_event_by_event_and_answered_per_event():
    delivered = []

    def deliver(row_event):
        if row_event.primary_key == {"id": 2}:
            raise ConnectionError("SNS unreachable")
        delivered.append(row_event.event_id)
        return {"status": "published"}

    handler = row_event_handler(Logger(service="test"), deliver)
    batch = [event(1), event(2), event(3, operation="DELETE"), event(4)]
    answer = handler({"events": batch}, LambdaContext("t", "arn:t", 3, 128, "r"))
    assert delivered == [event(1)["event_id"], event(4)["event_id"]]
    assert answer == {
        "batchItemFailures": [
            {"itemIdentifier": event(2)["event_id"], "reason": "SNS unreachable"}
        ],
        "rejected": [
            {
                "itemIdentifier": event(3)["event_id"],
                "reason": "field 'operation' must be one of ('INSERT',)",
            }
        ],
        "unattempted": [],
    }
    parsed = read_batch_answer(answer, [e["event_id"] for e in batch])
    assert parsed.failed == {
        event(2)["event_id"]: "reported as failed by the target: SNS unreachable"
    }
    assert list(parsed.rejected) == [event(3)["event_id"]]


def test_a_single_event_is_still_answered_as_before():
    handler = row_event_handler(Logger(service="test"), lambda row_event: {"status": "ok"})
    assert handler(event(1), LambdaContext("t", "arn:t", 3, 128, "r")) == {"status": "ok"}


def test_a_batch_stops_before_the_deadline_and_names_what_it_did_not_attempt():
    """Each delivery takes 1 s of a 10 s invocation that keeps 3.5 s in reserve: events
    1-7 are attempted (the 7th starts with 4 s left), the rest are named unattempted —
    also as failures, for a relay that does not know ``unattempted``."""
    clock = FakeClock()
    delivered = []

    def deliver(row_event):
        clock.advance(1)
        delivered.append(row_event.primary_key["id"])
        if row_event.primary_key == {"id": 2}:
            raise ConnectionError("SES unreachable")
        return {"status": "sent"}

    handler = row_event_handler(Logger(service="test"), deliver, reserve_seconds=3.5)
    batch = [event(n) for n in range(1, 10)] + [{"no": "id"}]
    answer = handler({"events": batch}, ClockedContext(clock, timeout=10))
    assert delivered == [1, 2, 3, 4, 5, 6, 7]
    late = [event(n)["event_id"] for n in (8, 9)]
    assert answer["unattempted"] == [{"itemIdentifier": key} for key in late]
    assert answer["batchItemFailures"] == [
        {"itemIdentifier": event(2)["event_id"], "reason": "SES unreachable"},
        *({"itemIdentifier": key} for key in late),
    ]
    parsed = read_batch_answer(answer, [e["event_id"] for e in batch if "event_id" in e])
    assert (parsed.failed, parsed.unattempted) == (
        {event(2)["event_id"]: "reported as failed by the target: SES unreachable"},
        late,
    )


def test_an_unattempted_event_not_in_the_batch_makes_the_answer_unreadable():
    answer = {"batchItemFailures": [], "unattempted": [{"itemIdentifier": "someone-else"}]}
    with pytest.raises(UnreadableAnswer, match="not in the batch: 'someone-else'"):
        read_batch_answer(answer, [event(1)["event_id"]])
    with pytest.raises(UnreadableAnswer, match="'unattempted' is not a list"):
        read_batch_answer({"batchItemFailures": [], "unattempted": "all"}, [])


@pytest.mark.parametrize(
    ("item", "recorded"),
    [
        ({"reason": "Throttling: Rate exceeded"}, ": Throttling: Rate exceeded"),
        ({}, ""),  # Lambda's own shape: no reason
        ({"reason": "  "}, ""),
        ({"reason": {"code": 500}}, ""),  # not text: the failure stands, the reason not
    ],
)
def test_a_failures_reason_is_what_the_relay_records(item, recorded):
    answer = {"batchItemFailures": [{"itemIdentifier": event(1)["event_id"], **item}]}
    parsed = read_batch_answer(answer, [event(1)["event_id"]])
    assert parsed.failed == {event(1)["event_id"]: "reported as failed by the target" + recorded}


def test_a_long_reason_is_cut_so_the_answer_stays_small():
    def deliver(row_event):
        raise ValueError("x" * 100_000)  # an error that echoes a large payload

    handler = row_event_handler(Logger(service="test"), deliver)
    answer = handler({"events": [event(1)]}, LambdaContext("t", "arn:t", 3, 128, "r"))
    assert answer["batchItemFailures"] == [
        {"itemIdentifier": event(1)["event_id"], "reason": "x" * REASON_CHARS}
    ]
