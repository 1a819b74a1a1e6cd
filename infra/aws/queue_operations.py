"""Operating the deployed queues: how much waits where (``aurora-events queues``), and
replaying dead letters back to their queue (``aurora-events replay``).

The queues' settings are declared in :mod:`infra.catalog` and created by
:mod:`infra.aws.resources.queues`. Plain boto3 against the deployed names, so the same commands
serve the local stack and AWS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import boto3

from infra.catalog import QUEUES, Deployment, queue_spec


@dataclass(frozen=True)
class QueueDepth:
    name: str
    visible: int
    in_flight: int
    delayed: int


def queue_url(sqs, deployment: Deployment, name: str) -> str:
    return sqs.get_queue_url(QueueName=queue_spec(name).deployed_name(deployment))["QueueUrl"]


def queue_depths(deployment: Deployment) -> list[QueueDepth]:
    """Approximate message counts of every declared queue (SQS's own approximations)."""
    sqs = boto3.client("sqs")
    depths = []
    for spec in QUEUES:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url(sqs, deployment, spec.name),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        depths.append(
            QueueDepth(
                spec.deployed_name(deployment),
                int(attributes.get("ApproximateNumberOfMessages", 0)),
                int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
            )
        )
    return depths


def replay_dead_letters(
    deployment: Deployment, queue: str = "ingest", limit: int | None = None
) -> int:
    """Move messages from ``queue``'s DLQ back to it, oldest first; return how many.

    Each keeps its message group (so a customer's order holds). It gets a fresh
    deduplication id: SQS would drop a resend within 5 minutes of the original otherwise.
    A message that was in fact written is a no-op for the drain (idempotency key).
    """
    spec = queue_spec(queue)
    if not spec.dead_letter_queue:
        raise ValueError(f"queue {queue!r} has no dead-letter queue")
    sqs = boto3.client("sqs")
    target = queue_url(sqs, deployment, queue)
    source = queue_url(sqs, deployment, spec.dead_letter_queue)
    moved = 0
    while limit is None or moved < limit:
        wanted = 10 if limit is None else min(10, limit - moved)
        batch = sqs.receive_message(
            QueueUrl=source,
            MaxNumberOfMessages=wanted,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not batch:
            return moved
        for message in batch:
            attributes = message.get("Attributes", {})
            resend = {"QueueUrl": target, "MessageBody": message["Body"]}
            if spec.fifo:
                original = attributes.get("MessageDeduplicationId", message["MessageId"])
                resend["MessageGroupId"] = attributes["MessageGroupId"]
                resend["MessageDeduplicationId"] = f"{original[:100]}-replay-{time.time_ns()}"
            if message.get("MessageAttributes"):
                resend["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**resend)
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved
