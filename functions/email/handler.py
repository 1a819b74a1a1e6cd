"""Lambda handler: row event -> email through SES (``EMAIL_FROM`` -> ``EMAIL_TO``)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger

from functions.common.config import required_setting
from functions.common.event_batches import BATCH_RESERVE_SECONDS
from functions.common.events import RowEvent
from functions.common.handlers import row_event_handler, target_client_config
from functions.email.messages import recipients, send_request

logger = Logger(service="email")
# Created once per container and reused by every invocation it serves. One SendEmail per
# event: its timeouts bound each call, so a batch stops in time before the deadline.
ses = boto3.client("ses", config=target_client_config())
EMAIL_FROM = required_setting("EMAIL_FROM")
EMAIL_TO = recipients(required_setting("EMAIL_TO"))


def send(event: RowEvent) -> dict:
    response = ses.send_email(**send_request(event, EMAIL_FROM, EMAIL_TO))
    logger.info("sent", extra={"event_id": event.event_id, "table": event.table})
    return {"status": "sent", "event_id": event.event_id, "message_id": response["MessageId"]}


handler = row_event_handler(logger, send, reserve_seconds=BATCH_RESERVE_SECONDS)
