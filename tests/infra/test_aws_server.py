"""The stack's moto server: a process of its own that ends with its parent, and moto's SQS
queue attributes read lazily there, with the same names and values as moto's own."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import boto3
import pytest
from moto.core.utils import camelcase_to_underscores
from moto.sqs.models import Queue

from infra.local.aws_server import DEFAULT_REGION, FAKE_CREDENTIALS, REPO_ROOT, LocalAwsServer
from infra.local.moto_sqs import LazyQueueAttributes
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
