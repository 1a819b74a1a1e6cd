"""Lambda handler: row event -> SNS topic (``TOPIC_ARN``); the outbox relay's batch of
events -> SNS ``PublishBatch`` (:mod:`functions.notify.batches`)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger

from functions.common.config import required_setting
from functions.common.events import RowEvent
from functions.common.handlers import row_event_handler
from functions.notify.batches import publish_batch
from functions.notify.messages import publish_request

logger = Logger(service="notify")
# Created once per container and reused by every invocation it serves.
sns = boto3.client("sns")
TOPIC_ARN = required_setting("TOPIC_ARN")


def publish(event: RowEvent) -> dict:
    response = sns.publish(**publish_request(event, TOPIC_ARN))
    logger.info("published", extra={"event_id": event.event_id, "table": event.table})
    return {"status": "published", "event_id": event.event_id, "message_id": response["MessageId"]}


def publish_events(events: list):
    """The outbox relay's batch: SNS PublishBatch, 10 entries a call."""
    return publish_batch(sns, TOPIC_ARN, logger, events)


handler = row_event_handler(logger, publish, deliver_events=publish_events)
