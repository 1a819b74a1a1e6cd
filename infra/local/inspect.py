"""Reading what the local stack delivered: SNS notifications (through the tail queue),
SES emails and Lambda failure records. (The emulation's record of calls is read through
:mod:`infra.local.emulation`.)"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

import boto3

from infra.local.aws_server import SES_SENT_PATH


@dataclass(frozen=True)
class Notification:
    subject: str
    message: str
    attributes: dict
    published_at: str = ""  # SNS's Timestamp: when the topic accepted the message (UTC)

    @property
    def event(self) -> dict:
        return json.loads(self.message)


def receive_notifications(queue_url: str, wait_seconds: int = 0) -> list[Notification]:
    """Take the SNS notifications waiting in a subscribed queue (they are deleted)."""
    sqs = boto3.client("sqs")
    notifications = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        ).get("Messages", [])
        if not batch:
            return notifications
        for message in batch:
            envelope = json.loads(message["Body"])
            attributes = {
                key: value.get("Value")
                for key, value in envelope.get("MessageAttributes", {}).items()
            }
            notifications.append(
                Notification(
                    envelope.get("Subject", ""),
                    envelope["Message"],
                    attributes,
                    envelope.get("Timestamp", ""),
                )
            )
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
        wait_seconds = 0


def sent_emails(endpoint_url: str) -> list[dict]:
    """Every email the local SES accepted (``id``, ``source``, ``to``, ``subject``, ``body``)."""
    with urllib.request.urlopen(endpoint_url.rstrip("/") + SES_SENT_PATH, timeout=10) as answer:
        return json.loads(answer.read())


def peek_failures(queue_url: str) -> list[dict]:
    """The on-failure records waiting in a failure queue (left in place)."""
    sqs = boto3.client("sqs")
    records, seen = [], set()
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=2
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            return records
        for message in fresh:
            seen.add(message["MessageId"])
            records.append(json.loads(message["Body"]))
