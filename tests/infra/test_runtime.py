"""The local Lambda runtime: async retries, failure records, timeouts, bad events."""

import json
import logging

import boto3

from functions.common.database import DatabaseSettings
from infra.local.container_pool import LocalFunction
from infra.local.inspect import peek_failures
from infra.local.lambda_runtime import LambdaRuntime
from tests.support import settled_invocations, wait_for


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


# Valid JSON to MariaDB's JSON_VALID (so lambda_async accepts it), but over Python's limit
# of 4300 digits for an integer: json.loads raises. (Nesting deeper than Python's recursion
# limit is no such case: JSON_VALID refuses documents nested more than 32 deep.)
INTEGER_OF_5000_DIGITS = '{"n": ' + "1" * 5000 + "}"


def test_a_payload_of_a_5000_digit_integer_fails_after_the_retries_with_a_record(
    database, admin, test_functions
):
    call_async_text(database, test_functions.arns["test-echo"], INTEGER_OF_5000_DIGITS)

    (row,) = settled_invocations(admin, database.name, 1)
    assert row["status"] == "failed"
    assert row["attempts"] == 3  # max_retry_attempts (2) + 1: never re-leased forever
    error = {
        "errorType": "Runtime.UnmarshalError",
        "errorMessage": "Unable to unmarshal input: Exceeds the limit (4300 digits) for "
        "integer string conversion: value has 5000 digits; use sys.set_int_max_str_digits() "
        "to increase the limit",
    }
    assert json.loads(row["last_error"]) == error
    (record,) = [
        r
        for r in peek_failures(test_functions.failure_queue_url)
        if r["requestPayload"] == INTEGER_OF_5000_DIGITS  # the text: it cannot be parsed
    ]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == test_functions.arns["test-echo"] + ":$LATEST"
    assert record["responsePayload"] == error


def call_async_text(database, arn, payload_text):
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT lambda_async(%s, %s)", (arn, payload_text))


def test_a_success_is_not_run_again_when_the_database_drops_before_its_outcome_is_recorded(
    stack, database, admin, account_id, caplog, tmp_path
):
    # A runtime of its own, on an account the handler locks and disconnects: the runtime
    # loses its connection right after the handler succeeded and cannot reconnect until
    # the test unlocks the account.
    user, password = "runtime_locked_out", "pw-runtime-locked-out"
    with admin.cursor() as cursor:
        cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cursor.execute(f"GRANT ALL ON aurora_emulation.* TO '{user}'@'%'")
    with database.connect().cursor() as cursor:
        cursor.execute("CREATE TABLE calls (id INT AUTO_INCREMENT PRIMARY KEY)")
    name = "test-locks-runtime-out"
    arn = f"arn:aws:lambda:us-east-1:{account_id}:function:{name}"
    function = LocalFunction(
        name=name,
        arn=arn,
        handler="tests.infra.runtime_handlers.locks_the_runtime_out",
        timeout_seconds=5,
        environment={
            "ROOT_SOCKET": str(stack.db.socket_path),
            "ROOT_PASSWORD": stack.db.root_password,
        },
    )
    settings = DatabaseSettings(host="127.0.0.1", port=stack.db.port, user=user, password=password)
    runtime = LambdaRuntime(settings, [function], log_dir=tmp_path)
    caplog.set_level(logging.WARNING, logger="infra.local.lambda_delivery")
    runtime.start()
    try:
        call_async(database, arn, {"database": database.name, "user": user})
        wait_for(
            lambda: any(r.getMessage().startswith("recording invocation") for r in caplog.records)
        )
        with admin.cursor() as cursor:
            cursor.execute(f"ALTER USER '{user}'@'%' ACCOUNT UNLOCK")
        (row,) = settled_invocations(admin, database.name, 1)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"ALTER USER '{user}'@'%' ACCOUNT UNLOCK")
        runtime.stop()
        with admin.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    assert row["status"] == "succeeded"
    assert row["attempts"] == 1
    assert json.loads(row["response"]) == {"calls": 1}
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM calls")
        assert cursor.fetchone() == (1,)  # the handler ran once


def test_a_container_that_cannot_start_for_a_nul_byte_in_its_environment_is_a_failed_attempt(
    stack, database, admin, account_id, test_functions, tmp_path
):
    # The runtime itself raises (Popen refuses the environment) before the handler runs:
    # a failed attempt, retried, then failed with its record, never a lease left to expire.
    name = "test-nul-in-environment"
    function = LocalFunction(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:{account_id}:function:{name}",
        handler="tests.lambda_handlers.echo",
        environment={"GREETING": "hello\x00world"},
        on_failure_queue_url=test_functions.failure_queue_url,
    )
    runtime = LambdaRuntime(stack.admin_settings(), [function], retry_delays=(0.1, 0.2))
    runtime.start()
    try:
        call_async(database, function.arn, {"nul": "environment"})
        (row,) = settled_invocations(admin, database.name, 1)
    finally:
        runtime.stop()
    error = {"errorType": "Runtime.Unknown", "errorMessage": "ValueError: embedded null byte"}
    assert row["status"] == "failed"
    assert row["attempts"] == 3
    assert json.loads(row["last_error"]) == error
    (record,) = [
        r
        for r in peek_failures(test_functions.failure_queue_url)
        if r["requestPayload"] == {"nul": "environment"}
    ]
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"] == error
