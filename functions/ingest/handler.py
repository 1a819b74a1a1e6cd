"""Lambda handler: API Gateway -> SQS FIFO queue (``QUEUE_URL``). 202, 400, 404, 405, 413 or 503."""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.common.config import required_setting
from functions.ingest.requests import (
    RequestError,
    accepted,
    build_message,
    parse_api_event,
    rejected,
    response,
)

logger = Logger(service="ingest")
# Short timeouts and one retry: a client waiting on a dead queue should hear 503 quickly.
sqs = boto3.client(
    "sqs", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2})
)
QUEUE_URL = required_setting("QUEUE_URL")
MAX_MESSAGE_BYTES = int(os.environ.get("MAX_MESSAGE_BYTES", "262144"))
RETRY_AFTER_SECONDS = "5"


@logger.inject_lambda_context
def handler(event, context):
    request = parse_api_event(event)
    try:
        message = build_message(request, MAX_MESSAGE_BYTES)
    except RequestError as error:
        logger.info("request refused", extra={"status": error.status, "reason": str(error)})
        return rejected(error)
    try:
        sent = sqs.send_message(
            QueueUrl=QUEUE_URL,
            MessageBody=message.body,
            MessageGroupId=message.group_id,
            MessageDeduplicationId=message.deduplication_id,
        )
    except (ClientError, BotoCoreError) as error:
        logger.error("queue unavailable", extra={"error": str(error)})
        return response(
            503,
            {"error": "unavailable", "message": "the queue is unavailable; retry later"},
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    logger.info("accepted", extra={"resource": message.resource, "key": message.idempotency_key})
    return accepted(message, sent["MessageId"])
