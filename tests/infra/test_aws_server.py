"""The stack's moto server: a process of its own that ends with its parent, moto's SQS
queue attributes read lazily there, with the same names and values as moto's own, and
message bodies refused there as SQS refuses them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.utils import camelcase_to_underscores
from moto.sqs.models import Queue

from functions.common.sqs_text import first_refused
from infra.local.aws_server import DEFAULT_REGION, FAKE_CREDENTIALS, REPO_ROOT, LocalAwsServer
from infra.local.moto_sqs import SQS_BODY_CHARACTERS, LazyQueueAttributes, refused_character
from tests.support import wait_for

ACCOUNT = "123456789012"


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_the_server_is_a_process_of_its_own_that_stop_ends(tmp_path):
    server = LocalAwsServer(log_path=tmp_path / "aws.log")
    server.start()
    try:
        sqs = boto3.client(
            "sqs",
            endpoint_url=server.endpoint_url,
            region_name=DEFAULT_REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        url = sqs.create_queue(QueueName="own-process")["QueueUrl"]
        assert sqs.get_queue_url(QueueName="own-process")["QueueUrl"] == url
    finally:
        server.stop()
    assert not listening(server.port)


def test_the_server_ends_when_its_parent_is_killed(tmp_path):
    # A parent killed without a chance to stop it: the server sees its stdin close.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, time
                from infra.local.aws_server import LocalAwsServer
                server = LocalAwsServer()
                server.start()
                print(server.port, flush=True)
                time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    port = int(parent.stdout.readline())
    assert listening(port)
    parent.kill()
    parent.wait()
    wait_for(lambda: not listening(port), timeout=30)


def standard_queue() -> Queue:
    return Queue("plain", "us-east-1", ACCOUNT)


def fifo_queue() -> Queue:
    dead_letters = Queue("dead.fifo", "us-east-1", ACCOUNT, FifoQueue="true")
    queue = Queue(
        "orders.fifo",
        "us-east-1",
        ACCOUNT,
        FifoQueue="true",
        ContentBasedDeduplication="false",
        VisibilityTimeout="180",
        KmsMasterKeyId="alias/aws/sqs",
    )
    queue.redrive_policy = {"deadLetterTargetArn": dead_letters.queue_arn, "maxReceiveCount": 10}
    queue.policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    return queue


@pytest.mark.parametrize("make_queue", [standard_queue, fifo_queue])
def test_lazy_attributes_are_moto_s_own(make_queue):
    # In this process moto's Queue is unchanged: its property is the reference.
    queue = make_queue()
    eager = Queue.attributes.fget(queue)
    lazy = LazyQueueAttributes(queue, camelcase_to_underscores)
    assert list(lazy) == list(eager)
    assert dict(lazy) == eager
    assert lazy.get("ContentBasedDeduplication") == eager.get("ContentBasedDeduplication")
    assert "NoSuchAttribute" not in lazy


def test_the_stack_s_queues_count_their_messages(stack):
    """Through the stack's server (lazy attributes): counts still follow the messages."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    for number in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"message {number}")
    (taken,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
        attributes["ApproximateNumberOfMessagesDelayed"],
    ) == ("2", "1", "0")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=taken["ReceiptHandle"])
    remaining = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "QueueArn"]
    )["Attributes"]
    assert remaining == {
        "ApproximateNumberOfMessages": "2",
        "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:counted",
    }
    ingest = stack.resources.queue_urls["ingest"]
    fifo = sqs.get_queue_attributes(QueueUrl=ingest, AttributeNames=["All"])["Attributes"]
    assert (fifo["FifoQueue"], fifo["ContentBasedDeduplication"]) == ("true", "false")
    assert json.loads(fifo["RedrivePolicy"])["maxReceiveCount"] == 10
    sqs.delete_queue(QueueUrl=url)


def sqs_error(send) -> dict:
    with pytest.raises(ClientError) as raised:
        send()
    return raised.value.response["Error"]


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_the_stack_s_sqs_refuses_what_sqs_refuses(stack, fifo):
    """SendMessage and SendMessageBatch against the stack's server, with boto3."""
    sqs = boto3.client("sqs")
    name = "refusing.fifo" if fifo else "refusing"
    attributes = {"MaximumMessageSize": "1024", **({"FifoQueue": "true"} if fifo else {})}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    ids = iter(range(10**6))

    def send(body: str):
        extra = {"MessageGroupId": "g", "MessageDeduplicationId": str(next(ids))} if fifo else {}
        return sqs.send_message(QueueUrl=url, MessageBody=body, **extra)

    try:
        accepted = ["\t\n\r x", "\ud7ff\ue000\ufffd", "\U00010000\U0010ffff", "x" * 1024]
        for body in accepted:
            send(body)
        for body, character in [
            ("name \uffff", "#xFFFF"),
            ("\ufffe", "#xFFFE"),
            ("a\x00", "#x0"),
            ("a\x1f", "#x1F"),
            ("lone \ud800", "#xD800"),
        ]:
            error = sqs_error(lambda body=body: send(body))
            assert error["Code"] == "InvalidMessageContents", error
            assert f"Invalid binary character '{character}'" in error["Message"]
        # 1024 characters of two bytes each: over by bytes, as SQS counts (moto: characters).
        error = sqs_error(lambda: send("\u00e9" * 1024))
        assert (error["Code"], error["Message"]) == (
            "InvalidParameterValue",
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.",
        )
        entries = [{"Id": "ok", "MessageBody": "fine"}, {"Id": "bad", "MessageBody": "\uffff"}]
        if fifo:
            entries = [
                {**entry, "MessageGroupId": "g", "MessageDeduplicationId": entry["Id"]}
                for entry in entries
            ]
        error = sqs_error(lambda: sqs.send_message_batch(QueueUrl=url, Entries=entries))
        assert error["Code"] == "InvalidMessageContents"
        received = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            received += [message["Body"] for message in batch]
            if fifo:  # the group is locked until its messages are deleted
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(batch)
                    ],
                )
        assert sorted(received) == sorted(accepted)
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_the_local_sqs_and_the_ingest_validation_refuse_the_same_code_points():
    """Two statements of SQS's rule, written apart: they agree on every code point."""
    assert SQS_BODY_CHARACTERS[3:] == ((0x20, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF))
    disagreements = [
        code
        for code in range(0x110000)
        if (refused_character(chr(code)) is None) != (first_refused(chr(code)) is None)
    ]
    assert disagreements == []
    refused = [code for code in range(0x110000) if refused_character(chr(code)) is not None]
    assert len(refused) == 29 + 2048 + 2  # C0 but tab/LF/CR, surrogates, U+FFFE and U+FFFF
