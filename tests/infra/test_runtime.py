"""The local Lambda runtime: async retries, failure records, timeouts, bad events."""

import json

import boto3

from infra.local.inspect import peek_failures
from tests.support import settled_invocations


def call_async(database, arn, payload):
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT lambda_async(%s, %s)", (arn, json.dumps(payload)))


def drain_failures(queue_url):
    sqs = boto3.client("sqs")
    records = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return records
        for message in batch:
            records.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_a_failing_handler_is_retried_twice_then_recorded(database, admin, test_functions):
    drain_failures(test_functions.failure_queue_url)
    call_async(database, test_functions.arns["test-fails"], {"order": 7})

    (row,) = settled_invocations(admin, database.name, 1)
    assert row["status"] == "failed"
    assert row["attempts"] == 3  # the first attempt and two retries
    assert json.loads(row["last_error"])["errorMessage"] == "boom: {'order': 7}"

    (record,) = [
        r
        for r in peek_failures(test_functions.failure_queue_url)
        if r["requestPayload"] == {"order": 7}
    ]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == test_functions.arns["test-fails"] + ":$LATEST"
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def test_a_handler_over_its_timeout_is_stopped_and_retried(database, admin, test_functions):
    call_async(database, test_functions.arns["test-slow"], {"slow": True})
    (row,) = settled_invocations(admin, database.name, 1, timeout=30)
    assert row["status"] == "failed"
    assert row["attempts"] == 3
    assert json.loads(row["last_error"])["errorMessage"] == "Task timed out after 0.50 seconds"


def test_a_malformed_event_is_rejected_once_and_the_container_keeps_serving(stack, database, admin):
    notify = stack.resources.function_arns["notify"]
    call_async(database, notify, {"hello": "world"})
    (rejected,) = settled_invocations(admin, database.name, 1)
    assert rejected["status"] == "succeeded"
    assert rejected["attempts"] == 1  # not retried: a bad event never gets better
    response = json.loads(rejected["response"])
    assert response["status"] == "rejected"
    assert "version" in response["reason"]

    call_async(
        database,
        notify,
        {
            "version": 1,
            "event_id": "e-1",
            "occurred_at": "now",
            "database": database.name,
            "table": "t",
            "operation": "INSERT",
            "delivery": "direct",
            "primary_key": {"id": 1},
            "row": {},
        },
    )
    rows = settled_invocations(admin, database.name, 2)
    assert json.loads(rows[1]["response"])["status"] == "published"
