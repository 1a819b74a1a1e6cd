"""notify's batch path against moto's SNS (the stack's topic, a queue of this test
subscribed to it): PublishBatch with 10 entries a call, each failed entry reported as its
event's failure and no other, a malformed event rejected; the single-event path unchanged."""

import importlib
import json
import uuid

import boto3
import pytest

from functions.common.event_batches import read_batch_answer
from infra.local.inspect import receive_notifications
from infra.local.lambda_worker import LambdaContext
from tests.support import ClockedContext, FakeClock


def context() -> LambdaContext:
    """A fresh invocation's context: its 30 s start now (notify stops a batch 14 s early)."""
    return LambdaContext("notify", "arn:notify", 30, 256, "r")


def event(database: str, n: int, **row) -> dict:
    return {
        "version": 1,
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-01-01T00:00:00.000000Z",
        "database": database,
        "table": "orders",
        "operation": "INSERT",
        "delivery": "outbox",
        "primary_key": {"id": n},
        "row": {"id": n, **row},
    }


@pytest.fixture
def subscribed(stack):
    """A queue of this test subscribed to the stack's notifications topic."""
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    topic = stack.resources.topic_arns["notifications"]
    url = sqs.create_queue(QueueName=f"notify-batches-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    yield topic, url
    sns.unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def notify(subscribed, monkeypatch):
    """notify's handler module, loaded with the stack's topic; its PublishBatch calls counted."""
    topic, _ = subscribed
    monkeypatch.setenv("TOPIC_ARN", topic)
    import functions.notify.handler as module

    module = importlib.reload(module)
    module.calls = []
    module.sns.meta.events.register(
        "provide-client-params.sns.PublishBatch",
        lambda params, **_: module.calls.append(len(params["PublishBatchRequestEntries"])),
    )
    return module


def test_a_batch_is_published_ten_entries_a_call_and_failures_are_named(notify, subscribed):
    _, queue = subscribed
    database = f"db{uuid.uuid4().hex[:8]}"
    batch = [event(database, n, note=f"row {n} 😀") for n in range(1, 24)]
    too_big = event(database, 99, note="x" * 300_000)  # over SNS's 256 KiB: refused
    malformed = {**event(database, 100), "operation": "DELETE"}
    batch[5:5] = [too_big, malformed]

    answer = notify.handler({"events": batch}, context())

    (refused,) = answer["batchItemFailures"]
    assert refused["itemIdentifier"] == too_big["event_id"]
    assert refused["reason"].startswith("InvalidParameter: ")  # what SNS said, for last_error
    assert refused["reason"].endswith("Message too long")
    assert answer["rejected"] == [
        {
            "itemIdentifier": malformed["event_id"],
            "reason": "field 'operation' must be one of ('INSERT',)",
        }
    ]
    # 23 good events and the oversize one: 10 + 10 + 3 and a call of its own for it.
    assert sorted(notify.calls) == [1, 3, 10, 10]
    received = receive_notifications(queue, wait_seconds=1)
    assert sorted(n.event["primary_key"]["id"] for n in received) == list(range(1, 24))
    by_id = {n.event["event_id"]: n for n in received}
    for sent in (batch[0], batch[-1]):
        note = by_id[sent["event_id"]]
        assert note.event == sent
        assert note.subject == f"New orders row id={sent['primary_key']['id']}"
        assert note.attributes == {
            "table": "orders",
            "operation": "INSERT",
            "event_id": sent["event_id"],
        }


def test_a_failed_call_fails_its_events_only(notify, subscribed, monkeypatch):
    _, queue = subscribed
    database = f"db{uuid.uuid4().hex[:8]}"
    batch = [event(database, n) for n in range(1, 13)]
    real = notify.sns.publish_batch
    seen = []

    def second_call_throttled(**request):
        seen.append(request)
        if len(seen) == 2:
            raise ConnectionError("SNS throttled")
        return real(**request)

    monkeypatch.setattr(notify.sns, "publish_batch", second_call_throttled)
    answer = notify.handler({"events": batch}, context())
    assert answer == {
        "batchItemFailures": [
            {"itemIdentifier": e["event_id"], "reason": "SNS throttled"} for e in batch[10:]
        ],
        "rejected": [],
        "unattempted": [],
    }
    received = receive_notifications(queue, wait_seconds=1)
    assert sorted(n.event["primary_key"]["id"] for n in received) == list(range(1, 11))


def test_one_event_is_still_published_on_its_own(notify, subscribed):
    _, queue = subscribed
    one = event(f"db{uuid.uuid4().hex[:8]}", 7)
    answer = notify.handler(one, context())
    assert answer["status"] == "published" and answer["event_id"] == one["event_id"]
    assert notify.calls == []
    (received,) = receive_notifications(queue, wait_seconds=1)
    assert json.loads(received.message) == one


def test_a_batch_stops_before_the_deadline_and_names_the_calls_it_did_not_make(notify, subscribed):
    """PublishBatch slowed to 3 s a call (a fake clock the calls advance) in notify's
    30 s: 6 calls start with at least the 14 s reserve left, the 4 others are not made,
    and their 35 events are answered unattempted. No event is both."""
    _, queue = subscribed
    batch = [event(f"db{uuid.uuid4().hex[:8]}", n) for n in range(1, 96)]
    clock = FakeClock()
    notify.sns.meta.events.register(
        "before-call.sns.PublishBatch", lambda **_: clock.advance(3), unique_id=str(uuid.uuid4())
    )
    answer = notify.handler({"events": batch}, ClockedContext(clock, timeout=30))
    assert notify.calls == [10] * 6
    assert answer["unattempted"] == [{"itemIdentifier": e["event_id"]} for e in batch[60:]]
    parsed = read_batch_answer(answer, [e["event_id"] for e in batch])
    assert (parsed.failed, parsed.unattempted) == ({}, [e["event_id"] for e in batch[60:]])
    received = receive_notifications(queue, wait_seconds=1)
    assert sorted(n.event["primary_key"]["id"] for n in received) == list(range(1, 61))
