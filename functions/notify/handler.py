"""Lambda handler: row event -> SNS topic (``TOPIC_ARN``); the outbox relay's batch of
events -> SNS ``PublishBatch`` (:mod:`functions.notify.batches`)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger

from functions.common.config import required_setting
from functions.common.event_batches import BATCH_RESERVE_SECONDS, Deadline
from functions.common.events import RowEvent
from functions.common.handlers import row_event_handler, target_client_config
from functions.notify.batches import publish_batch
from functions.notify.messages import publish_request

logger = Logger(service="notify")
# Created once per container and reused by every invocation it serves. Its timeouts
# bound a call, so a batch can stop in time before the function's deadline.
sns = boto3.client("sns", config=target_client_config())
TOPIC_ARN = required_setting("TOPIC_ARN")


def publish(event: RowEvent) -> dict:
    response = sns.publish(**publish_request(event, TOPIC_ARN))
    logger.info("published", extra={"event_id": event.event_id, "table": event.table})
    return {"status": "published", "event_id": event.event_id, "message_id": response["MessageId"]}


def publish_events(events: list, deadline: Deadline):
    """The outbox relay's batch: SNS PublishBatch, 10 entries a call, until the deadline."""
    return publish_batch(sns, TOPIC_ARN, logger, events, deadline)


handler = row_event_handler(
    logger, publish, deliver_events=publish_events, reserve_seconds=BATCH_RESERVE_SECONDS
)
