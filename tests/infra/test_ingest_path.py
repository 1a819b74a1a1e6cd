"""The ingest path under every failure we can make locally: API -> ingest -> SQS FIFO ->
drain -> MariaDB. Each test asserts rows, not exit codes."""

import functools
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
import pymysql
import pytest

from functions.common.resources import body_hash, resource_named, stored_key
from infra.aws.queue_operations import replay_dead_letters
from infra.local.api_gateway import LocalApiGateway
from infra.local.container_pool import LocalFunction
from infra.local.event_source import failed_message_ids, sqs_event
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.stack import APP_DATABASE
from tests.support import wait_for

_customer_ids = iter(range(1000, 10**6))


@pytest.fixture(scope="session")
def ingest_database(migrated_stack):
    """The stack's own database (the drain's secret points at it), migrated to head, and
    the drain's account granted its tables: the session's one (tests/conftest.py)."""
    return migrated_stack


def query(stack, sql, *args):
    from functions.common.database import connect

    connection = connect(stack.app_settings(APP_DATABASE))
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()
    finally:
        connection.close()


def post(stack, path, body, key=None, raw=False, url=None, headers=None):
    """POST to the stack's API (or the one at ``url``): status, answer and headers."""
    data = body if raw else json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request((url or stack.api.url) + path, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Idempotency-Key", key)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def order(customer_id, amount="1.00"):
    return {"customer_id": customer_id, "amount": amount, "currency": "USD"}


@functools.cache
def local_caller() -> str:
    """Who the stack's API says the caller is (api_auth iam, no principal set): the ARN of
    the credentials the stack's clients sign with, as SigV4 with them would give."""
    return boto3.client("sts").get_caller_identity()["Arn"]


def order_key(customer, key, amount="1.00", principal=None):
    """The stored key of ``order(customer, amount)`` posted with ``key`` (None: none) by
    ``principal`` (None: the stack API's own caller)."""
    order_values = validated(order(customer, amount))
    return stored_key(resource_named("orders"), order_values, key, principal or local_caller())


def validated(body):
    return {**body, "amount": f"{float(body['amount']):.2f}"}


def conflicts_of(stack, key):
    return query(
        stack,
        "SELECT resource, client_key, stored_body_hash, body_hash, data FROM ingest_conflicts "
        "WHERE idempotency_key = %s ORDER BY id",
        key,
    )


def orders_of(stack, customers):
    marks = ", ".join(["%s"] * len(customers))
    return query(
        stack,
        f"SELECT customer_id, idempotency_key, id FROM orders WHERE customer_id IN ({marks}) "
        "ORDER BY id",
        *customers,
    )


def queue_counts(url):
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_database_down_every_request_is_accepted_and_stored_once_in_order(ingest_database):
    stack = ingest_database
    customers = [next(_customer_ids) for _ in range(10)]
    statuses = []
    # A message survives an outage of max_receive_count (10) visibility timeouts before it
    # moves to the DLQ: 30 minutes on AWS, 10 s with the test stack's 1 s. Posting 500
    # requests keeps the database down longer than that on a slow machine, so this test
    # models a longer visibility (50 s of tolerance), as the real queue's 180 s does.
    pollers = [p for p in stack.pollers if p.queue_url == stack.resources.queue_urls["ingest"]]
    saved = [p.visibility_seconds for p in pollers]
    for poller in pollers:
        poller.visibility_seconds = 5.0
    dead_letters_before = queue_counts(stack.resources.queue_urls["ingest-dlq"])
    stack.db.stop()
    try:

        def post_customer(customer):  # one customer's requests in sequence: their order
            return [
                post(
                    stack, "/orders", order(customer, f"{n + 1}.00"), key=f"down-{customer}-{n:03}"
                )[0]
                for n in range(50)
            ]

        with ThreadPoolExecutor(max_workers=5) as pool:
            for result in pool.map(post_customer, customers):
                statuses += result
        assert statuses == [202] * 500
        with pytest.raises(pymysql.err.OperationalError) as refused:
            orders_of(stack, customers)
        assert refused.value.args[0] == 2003  # can't connect: really down
    finally:
        stack.db.start()

    try:
        rows = wait_for(
            lambda: (r := orders_of(stack, customers)) and len(r) >= 500 and r, timeout=90
        )
    finally:
        for poller, seconds in zip(pollers, saved, strict=True):
            poller.visibility_seconds = seconds
    assert queue_counts(stack.resources.queue_urls["ingest-dlq"]) == dead_letters_before
    keys = [key for _, key, _ in rows]
    assert len(rows) == 500 and len(set(keys)) == 500  # each exactly once
    for customer in customers:
        in_id_order = [key for c, key, _ in rows if c == customer]
        assert in_id_order == [
            order_key(customer, f"down-{customer}-{n:03}", f"{n + 1}.00") for n in range(50)
        ]


def test_resubmissions_make_one_row(ingest_database):
    stack = ingest_database
    customer = next(_customer_ids)
    answers = [post(stack, "/orders", order(customer), key=f"dup-{customer}") for _ in range(5)]
    assert [status for status, _, _ in answers] == [202] * 5
    assert {body["idempotency_key"] for _, body, _ in answers} == {f"dup-{customer}"}
    wait_for(lambda: orders_of(stack, [customer]))
    # And once more after it was written and its message deleted.
    assert post(stack, "/orders", order(customer), key=f"dup-{customer}")[0] == 202
    # Without a key: the same body twice is the same request.
    post(stack, "/orders", order(customer, "2.00"))
    post(stack, "/orders", order(customer, "2.00"))
    # A marker last, in the same message group (the customer's): the drain takes a group
    # in order, so once the marker is stored, every message sent before it was handled.
    assert post(stack, "/orders", order(customer, "3.00"), key=f"marker-{customer}")[0] == 202
    marker = order_key(customer, f"marker-{customer}", "3.00")
    rows = wait_for(lambda: (r := orders_of(stack, [customer])) and r[-1][1] == marker and r)
    assert [key for _, key, _ in rows] == [
        order_key(customer, f"dup-{customer}"),
        order_key(customer, None, "2.00"),
        marker,
    ]  # the keyed request, the unkeyed one, the marker: no duplicate
    assert conflicts_of(stack, order_key(customer, f"dup-{customer}")) == ()


def post_then_marker(stack, customer, posts):
    """Post ``posts`` ((path, body, key) each) then a marker order for ``customer``, and
    wait for the marker's row: every message before it in the customer's group was handled
    (the drain takes a group in order). The answers' statuses."""
    statuses = [post(stack, path, body, key=key)[0] for path, body, key in posts]
    marker = order(customer, "9.99")
    statuses.append(post(stack, "/orders", marker, key=f"marker-{customer}")[0])
    marker_key = order_key(customer, f"marker-{customer}", "9.99")
    wait_for(lambda: (r := orders_of(stack, [customer])) and r[-1][1] == marker_key)
    return statuses


def test_two_customers_with_one_key_are_two_orders(ingest_database):
    stack = ingest_database
    first, second = next(_customer_ids), next(_customer_ids)
    key = f"shared-key-{first}"
    assert post(stack, "/orders", order(first), key=key)[0] == 202
    assert post_then_marker(stack, second, [("/orders", order(second), key)]) == [202, 202]
    wait_for(lambda: orders_of(stack, [first]))
    rows = orders_of(stack, [first, second])
    assert [(c, k) for c, k, _ in rows if c == first] == [(first, order_key(first, key))]
    assert [k for c, k, _ in rows if c == second][0] == order_key(second, key)
    assert conflicts_of(stack, order_key(first, key)) == ()
    assert conflicts_of(stack, order_key(second, key)) == ()


def test_one_key_with_another_body_is_one_order_and_one_recorded_conflict(ingest_database):
    stack = ingest_database
    customer = next(_customer_ids)
    key = f"conflict-{customer}"
    statuses = post_then_marker(
        stack,
        customer,
        [("/orders", order(customer, "1.00"), key), ("/orders", order(customer, "2.00"), key)],
    )
    assert statuses == [202, 202, 202]
    rows = orders_of(stack, [customer])
    stored = order_key(customer, key)
    assert [k for _, k, _ in rows] == [stored, order_key(customer, f"marker-{customer}", "9.99")]
    assert query(stack, "SELECT amount FROM orders WHERE idempotency_key = %s", stored)[0][0] == 1
    first, second = validated(order(customer, "1.00")), validated(order(customer, "2.00"))
    assert conflicts_of(stack, stored) == (
        (
            "orders",
            key,
            body_hash(first),
            body_hash(second),
            f'{{"amount":"2.00","currency":"USD","customer_id":{customer}}}',
        ),
    )


def test_an_exact_resend_is_one_order_and_no_conflict(ingest_database):
    stack = ingest_database
    customer = next(_customer_ids)
    key = f"resend-{customer}"
    # 1.0 and "1.00" are one amount: the same validated body.
    statuses = post_then_marker(
        stack,
        customer,
        [("/orders", order(customer, "1.00"), key), ("/orders", order(customer, "1.0"), key)],
    )
    assert statuses == [202, 202, 202]
    rows = orders_of(stack, [customer])
    assert [k for _, k, _ in rows][:-1] == [order_key(customer, key)]
    assert conflicts_of(stack, order_key(customer, key)) == ()


def test_without_a_key_identical_bodies_merge_and_other_bodies_do_not(ingest_database):
    stack = ingest_database
    customer = next(_customer_ids)
    posts = [("/orders", order(customer, amount), None) for amount in ("4.00", "4.00", "5.00")]
    assert post_then_marker(stack, customer, posts) == [202] * 4
    rows = orders_of(stack, [customer])
    assert [k for _, k, _ in rows][:-1] == [
        order_key(customer, None, "4.00"),
        order_key(customer, None, "5.00"),
    ]


@pytest.fixture
def two_callers_api(ingest_database):
    """A gateway in front of the stack's ingest function that takes the caller from the
    header X-Local-Principal (the stack setting api_principal_header), as two callers."""
    stack = ingest_database
    gateway = LocalApiGateway(
        stack.runtime,
        stack.deployment.resource_name("ingest"),
        stack.deployment.api_stage,
        auth=stack.deployment.api_auth,
        principal_header="X-Local-Principal",
    )
    gateway.start()
    yield gateway
    gateway.stop()


ANN = "arn:aws:iam::123456789012:user/ann"
BOB = "arn:aws:iam::123456789012:user/bob"


def test_one_key_from_two_callers_is_two_orders_and_a_resend_by_one_is_none(
    ingest_database, two_callers_api
):
    stack, url = ingest_database, two_callers_api.url
    customer = next(_customer_ids)
    key = f"two-callers-{customer}"

    def as_caller(principal, amount):
        headers = {"X-Local-Principal": principal}
        return post(stack, "/orders", order(customer, amount), key, url=url, headers=headers)

    ann, bob = as_caller(ANN, "1.00"), as_caller(BOB, "2.00")
    resent = as_caller(ANN, "1.00")  # Ann's retry: the same request
    assert [answer[0] for answer in (ann, bob, resent)] == [202, 202, 202]
    assert ann[1]["stored_key"] == resent[1]["stored_key"] == order_key(customer, key, "1.00", ANN)
    assert bob[1]["stored_key"] == order_key(customer, key, "2.00", BOB)
    assert post_then_marker(stack, customer, []) == [202]
    rows = query(
        stack,
        "SELECT CAST(amount AS CHAR), idempotency_key FROM orders WHERE customer_id = %s "
        "ORDER BY id",
        customer,
    )
    marker = ("9.99", order_key(customer, f"marker-{customer}", "9.99"))
    assert rows == (
        ("1.00", order_key(customer, key, "1.00", ANN)),
        ("2.00", order_key(customer, key, "2.00", BOB)),
        marker,
    )
    # Neither is the other's conflict: two callers, two requests.
    assert conflicts_of(stack, order_key(customer, key, "1.00", ANN)) == ()
    assert conflicts_of(stack, order_key(customer, key, "2.00", BOB)) == ()


def test_a_request_without_a_caller_is_refused_and_nothing_is_queued(
    ingest_database, two_callers_api
):
    stack = ingest_database
    customer = next(_customer_ids)
    # The gateway refuses it as API Gateway refuses an unsigned request (iam).
    unsigned = post(
        stack, "/orders", order(customer), f"nobody-{customer}", url=two_callers_api.url
    )
    assert unsigned[:2] == (403, {"message": "Forbidden"})
    # One that reaches the function without a caller (a route made anonymous by hand):
    # the function refuses it rather than storing it under no principal.
    event = {
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/prod/orders",
        "headers": {"idempotency-key": f"nobody-{customer}"},
        "body": json.dumps(order(customer)),
        "requestContext": {"requestId": "anon", "http": {"method": "POST"}, "stage": "prod"},
    }
    answer = stack.runtime.invoke(stack.deployment.resource_name("ingest"), event).result
    assert answer["statusCode"] == 403
    assert json.loads(answer["body"]) == {
        "error": "forbidden",
        "message": "the request has no authenticated caller "
        "(requestContext.authorizer.iam.userArn): the API requires iam authentication",
    }
    assert post_then_marker(stack, customer, []) == [202]
    assert [k for _, k, _ in orders_of(stack, [customer])] == [
        order_key(customer, f"marker-{customer}", "9.99")
    ]


def test_a_drain_that_commits_and_dies_before_the_delete_makes_one_row(ingest_database):
    stack = ingest_database
    (poller,) = stack.pollers
    customer = next(_customer_ids)
    sqs = boto3.client("sqs")
    url = stack.resources.queue_urls["ingest"]
    wait_for(lambda: queue_counts(url) == 0)  # with the poller running: leftovers drain
    poller.pause()
    try:
        assert queue_counts(url) == 0
        assert post(stack, "/orders", order(customer), key=f"crash-{customer}")[0] == 202
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=60
        )["Messages"]
        event = sqs_event(messages, stack.resources.queue_arns["ingest"], "us-east-1")
        outcome = stack.runtime.invoke("aurora-events-drain", event)
        assert outcome.result == {"batchItemFailures": []}
        assert len(orders_of(stack, [customer])) == 1
        # ...and the drain "dies": the message is never deleted; it comes back.
        for message in messages:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    finally:
        poller.resume()
    wait_for(lambda: queue_counts(url) == 0)
    assert len(orders_of(stack, [customer])) == 1


def test_a_poison_message_goes_to_the_dlq_and_other_customers_keep_flowing(ingest_database):
    stack = ingest_database
    (poller,) = stack.pollers
    sqs = boto3.client("sqs")
    url, dlq = stack.resources.queue_urls["ingest"], stack.resources.queue_urls["ingest-dlq"]
    poison_customer = next(_customer_ids)
    others = [next(_customer_ids) for _ in range(5)]
    group = f"customer-{poison_customer}"
    drain_queue(dlq)
    saved, poller.visibility_seconds = poller.visibility_seconds, 0.3
    try:
        # Valid JSON, valid schema, but a key too long for its column: never writable.
        poison = {
            "version": 1,
            "resource": "orders",
            "idempotency_key": "p" * 300,
            "request_id": "",
            "received_at": "",
            "data": order(poison_customer),
        }
        after = {**poison, "idempotency_key": f"after-{poison_customer}"}
        # The same customer's next write waits behind it: FIFO. Both are sent while the
        # poller waits, so they are received together from the first batch on, and as a
        # group is held while one of its messages is in flight, always together after:
        # their receive counts stay equal.
        poller.pause()
        try:
            sent = sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {
                        "Id": name,
                        "MessageBody": json.dumps(body),
                        "MessageGroupId": group,
                        "MessageDeduplicationId": f"{name}-{poison_customer}",
                    }
                    for name, body in (("poison", poison), ("after", after))
                ],
            )
        finally:
            poller.resume()
        assert not sent.get("Failed"), sent
        for customer in others:
            assert post(stack, "/orders", order(customer), key=f"flow-{customer}")[0] == 202

        wait_for(lambda: len(orders_of(stack, others)) == 5, timeout=20)
        assert queue_counts(dlq) == 0  # the poison is still being retried meanwhile
        assert orders_of(stack, [poison_customer]) == ()

        # After maxReceiveCount receives the poison moves to the DLQ; the message behind it
        # was received in the same batches, so it reaches the same count and follows the
        # poison into the DLQ, in order (SQS FIFO does the same).
        wait_for(lambda: queue_counts(dlq) == 2, timeout=30)
        assert orders_of(stack, [poison_customer]) == ()
        dead = sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
        )["Messages"]
        assert [json.loads(m["Body"])["idempotency_key"] for m in dead] == [
            "p" * 300,
            f"after-{poison_customer}",
        ]
        assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 10
        # The operator discards the poison and replays the rest.
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=dead[0]["ReceiptHandle"])
        assert replay_dead_letters(stack.deployment) == 1
        rows = wait_for(lambda: orders_of(stack, [poison_customer]))
        assert [key for _, key, _ in rows] == [f"after-{poison_customer}"]
    finally:
        poller.visibility_seconds = saved
        drain_queue(dlq)


def drain_queue(url):
    sqs = boto3.client("sqs")
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_replay_puts_dead_letters_back_and_a_replayed_write_is_a_no_op(ingest_database):
    stack = ingest_database
    sqs = boto3.client("sqs")
    dlq = stack.resources.queue_urls["ingest-dlq"]
    drain_queue(dlq)
    customer = next(_customer_ids)
    message = {
        "version": 1,
        "resource": "orders",
        "idempotency_key": f"replay-{customer}",
        "request_id": "",
        "received_at": "",
        "data": order(customer, "5.00"),
    }
    for copy in range(2):  # the same write twice: once is stored
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=json.dumps(message),
            MessageGroupId=f"customer-{customer}",
            MessageDeduplicationId=f"replay-{customer}-{copy}",
        )
    assert replay_dead_letters(stack.deployment) == 2
    assert queue_counts(dlq) == 0
    wait_for(lambda: orders_of(stack, [customer]))
    wait_for(lambda: queue_counts(stack.resources.queue_urls["ingest"]) == 0)
    assert [k for _, k, _ in orders_of(stack, [customer])] == [f"replay-{customer}"]
    assert replay_dead_letters(stack.deployment) == 0


def test_hard_input_gets_the_right_answer_and_is_stored_byte_identical(ingest_database):
    stack = ingest_database
    # Hard but printable: quotes, backslashes, SQL, emoji, Korean, astral, zero-width space,
    # no-break space, format strings. Control characters are refused (below).
    name = "Robert'); DROP TABLE customers;-- \\ \" 😀 한국어 𝔘 \u200b \u00a0 %s {0}"
    email = f"o'neil+{next(_customer_ids)}@example.com"
    status, body, _ = post(
        stack, "/customers", {"email": email, "name": name, "phone": None}, key=f"hard-{email}"
    )
    assert status == 202 and body["status"] == "accepted"
    rows = wait_for(
        lambda: query(stack, "SELECT name, HEX(name), phone FROM customers WHERE email = %s", email)
    )
    assert rows[0][0] == name
    assert bytes.fromhex(rows[0][1]) == name.encode("utf-8")
    assert rows[0][2] is None

    for raw, status_code, message in [
        (b"{not json", 400, "body is not valid JSON"),
        (b"\xff\xfe", 400, "body is not UTF-8"),
        (json.dumps({"email": email, "name": 12}).encode(), 400, "field 'name' must be a string"),
        (json.dumps({"name": "x"}).encode(), 400, "field 'email' is required"),
        (
            b'{"email": "a@b.co", "name": "' + b"x" * 262_144 + b'"}',
            413,
            "the limit is 262144 bytes",
        ),
    ]:
        status, body, _ = post(stack, "/customers", raw, raw=True)
        assert (status, message in body["message"]) == (status_code, True), body

    # A control character in a name ("\n" here) is refused, naming the field.
    status, body, _ = post(stack, "/customers", {"email": email, "name": "Robert\n"})
    assert (status, body) == (
        400,
        {
            "error": "invalid_request",
            "message": "field 'name' must not contain a control character (U+000A at index 6)",
            "field": "name",
        },
    )


def test_http_api_v2_events_and_an_unavailable_queue(ingest_database, tmp_path):
    stack = ingest_database
    customer = next(_customer_ids)
    event = {
        "version": "2.0",
        "rawPath": "/orders",
        "headers": {"idempotency-key": f"v2-{customer}"},
        "body": json.dumps(order(customer)),
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": "v2",
            "http": {"method": "POST"},
            "authorizer": {"iam": {"userArn": local_caller()}},
        },
    }
    outcome = stack.runtime.invoke("aurora-events-ingest", event)
    assert outcome.result["statusCode"] == 202
    wait_for(lambda: orders_of(stack, [customer]))

    broken = LocalFunction(
        name="test-ingest-no-queue",
        arn="arn:aws:lambda:us-east-1:000000000000:function:x",
        handler="functions.ingest.handler.handler",
        environment={"QUEUE_URL": stack.resources.queue_urls["ingest"] + "-missing"},
    )
    runtime = LambdaRuntime(stack.admin_settings(), [broken], log_dir=tmp_path)
    try:
        answer = runtime.invoke("test-ingest-no-queue", event).result
    finally:
        runtime.stop()
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "5"
    assert json.loads(answer["body"])["error"] == "unavailable"


def test_sqs_s_refusals_for_content_are_4xx_from_the_real_handler(
    ingest_database, tmp_path, monkeypatch
):
    """The ingest handler against the stack's SQS (which refuses as SQS does): a message
    too long for the queue is a 413 and one with a character SQS refuses is a 400, not the
    503 every retry would get; a missing queue is still a 503."""
    stack = ingest_database
    sqs = boto3.client("sqs")
    small = sqs.create_queue(
        QueueName="ingest-small.fifo",
        Attributes={"FifoQueue": "true", "MaximumMessageSize": "1024"},
    )["QueueUrl"]
    small_ingest = LocalFunction(
        name="test-ingest-small-queue",
        arn="arn:aws:lambda:us-east-1:000000000000:function:small",
        handler="functions.ingest.handler.handler",
        environment={"QUEUE_URL": small},  # MAX_MESSAGE_BYTES stays 262144: too big for it
    )
    # 200 four-byte characters and a 320-byte email: valid, and over 1024 bytes queued.
    email = "q" * 300 + f"{next(_customer_ids)}@example.com"
    customer = {"email": email[-320:], "name": "\U0001f600" * 200}
    event = {
        "version": "2.0",
        "rawPath": "/customers",
        "headers": {},
        "body": json.dumps(customer),
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": "small",
            "http": {"method": "POST"},
            "authorizer": {"iam": {"userArn": local_caller()}},
        },
    }
    runtime = LambdaRuntime(stack.admin_settings(), [small_ingest], log_dir=tmp_path)
    try:
        answer = runtime.invoke("test-ingest-small-queue", event).result
    finally:
        runtime.stop()
    assert answer["statusCode"] == 413, answer
    assert "Retry-After" not in answer["headers"]
    assert json.loads(answer["body"]) == {
        "error": "payload_too_large",
        "message": "the queue refused the message: One or more parameters are invalid. "
        "Reason: Message must be shorter than 1024 bytes.",
    }

    # No request gets a U+FFFF past validation, so the handler's send is called directly.
    monkeypatch.setenv("QUEUE_URL", small)  # read when the module is first imported
    from functions.ingest import handler
    from functions.ingest.requests import MessageRefused, QueueMessage, QueueUnavailable

    def sent(url, body):
        message = QueueMessage(body, "g", f"d-{len(body)}", "k", "customers")
        original = handler.QUEUE_URL, handler.sqs
        handler.QUEUE_URL, handler.sqs = url, sqs
        try:
            return handler.send_to_queue(message)
        finally:
            handler.QUEUE_URL, handler.sqs = original

    with pytest.raises(MessageRefused) as raised:
        sent(small, '{"name":"Ann\uffff"}')
    assert (raised.value.status, raised.value.error) == (400, "invalid_request")
    assert "Invalid binary character '#xFFFF'" in str(raised.value)
    with pytest.raises(QueueUnavailable):
        sent(small + "-missing", '{"name":"Ann"}')
    assert sent(small, '{"name":"Ann\ufffd"}')  # accepted: a message id
    (taken,) = sqs.receive_message(QueueUrl=small)["Messages"]
    assert taken["Body"] == '{"name":"Ann\ufffd"}'
    sqs.delete_queue(QueueUrl=small)


def test_the_drain_reconnects_after_the_server_restarts(ingest_database):
    stack = ingest_database
    first, second = next(_customer_ids), next(_customer_ids)

    def drain(customer):
        message = {
            "MessageId": f"m-{customer}",
            "ReceiptHandle": "r",
            "Body": json.dumps(
                {
                    "version": 1,
                    "resource": "orders",
                    "idempotency_key": f"stale-{customer}",
                    "request_id": "",
                    "received_at": "",
                    "data": order(customer),
                }
            ),
            "Attributes": {"MessageGroupId": f"customer-{customer}"},
        }
        return stack.runtime.invoke("aurora-events-drain", sqs_event([message], "arn", "us-east-1"))

    assert drain(first).result == {"batchItemFailures": []}
    stack.db.stop()
    stack.db.start()
    assert drain(second).result == {"batchItemFailures": []}
    assert len(orders_of(stack, [first, second])) == 2


def test_while_the_database_is_down_the_drain_fails_fast(ingest_database):
    stack = ingest_database
    customer = next(_customer_ids)
    message = {
        "MessageId": "m-down",
        "ReceiptHandle": "r",
        "Body": json.dumps(
            {
                "version": 1,
                "resource": "orders",
                "idempotency_key": f"fast-{customer}",
                "request_id": "",
                "received_at": "",
                "data": order(customer),
            }
        ),
        "Attributes": {"MessageGroupId": "g"},
    }
    stack.db.stop()
    try:
        outcome = stack.runtime.invoke(
            "aurora-events-drain", sqs_event([message], "arn", "us-east-1")
        )
    finally:
        stack.db.start()
    # The drain raises (a function error: Lambda's Errors metric and the mapping's back-off
    # see the outage) rather than report the message; either way all of it returns.
    assert outcome.result is None
    assert outcome.error["errorType"] == "DatabaseUnavailable"
    assert "Can't connect" in outcome.error["errorMessage"]
    assert failed_message_ids(outcome, [{"MessageId": "m-down"}]) == {"m-down"}
    assert orders_of(stack, [customer]) == ()
