"""Lambda handler: row event -> SNS topic (``TOPIC_ARN``)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger

from functions.common.config import required_setting
from functions.common.events import MalformedEvent, parse_row_event
from functions.common.reporting import rejected
from functions.notify.messages import publish_request

logger = Logger(service="notify")
# Created once per container and reused by every invocation it serves.
sns = boto3.client("sns")
TOPIC_ARN = required_setting("TOPIC_ARN")


@logger.inject_lambda_context
def handler(event, context):
    try:
        row_event = parse_row_event(event)
    except MalformedEvent as error:
        return rejected(logger, error, event)
    response = sns.publish(**publish_request(row_event, TOPIC_ARN))
    logger.info("published", extra={"event_id": row_event.event_id, "table": row_event.table})
    return {
        "status": "published",
        "event_id": row_event.event_id,
        "message_id": response["MessageId"],
    }
