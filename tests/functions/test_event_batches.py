"""The batch contract between the relay and its targets, on the targets' side: the
shared row-event handler takes ``{"events": [...]}`` and answers per event."""

from aws_lambda_powertools import Logger

from functions.common.event_batches import read_batch_answer
from functions.common.handlers import row_event_handler
from infra.local.lambda_worker import LambdaContext


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
        "batchItemFailures": [{"itemIdentifier": event(2)["event_id"]}],
        "rejected": [
            {
                "itemIdentifier": event(3)["event_id"],
                "reason": "field 'operation' must be one of ('INSERT',)",
            }
        ],
    }
    parsed = read_batch_answer(answer, [e["event_id"] for e in batch])
    assert parsed.failed == {event(2)["event_id"]: "reported as failed by the target"}
    assert list(parsed.rejected) == [event(3)["event_id"]]


def test_a_single_event_is_still_answered_as_before():
    handler = row_event_handler(Logger(service="test"), lambda row_event: {"status": "ok"})
    assert handler(event(1), LambdaContext("t", "arn:t", 3, 128, "r")) == {"status": "ok"}
