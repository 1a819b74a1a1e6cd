"""Lambda handler: row event -> email through SES (``EMAIL_FROM`` -> ``EMAIL_TO``)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger

from functions.common.config import required_setting
from functions.common.events import MalformedEvent, parse_row_event
from functions.common.reporting import rejected
from functions.email.messages import recipients, send_request

logger = Logger(service="email")
ses = boto3.client("ses")
EMAIL_FROM = required_setting("EMAIL_FROM")
EMAIL_TO = recipients(required_setting("EMAIL_TO"))


@logger.inject_lambda_context
def handler(event, context):
    try:
        row_event = parse_row_event(event)
    except MalformedEvent as error:
        return rejected(logger, error, event)
    response = ses.send_email(**send_request(row_event, EMAIL_FROM, EMAIL_TO))
    logger.info("sent", extra={"event_id": row_event.event_id, "table": row_event.table})
    return {"status": "sent", "event_id": row_event.event_id, "message_id": response["MessageId"]}
