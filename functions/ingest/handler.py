"""Lambda handler: API Gateway -> SQS FIFO queue (``QUEUE_URL``). 202, 400, 403, 404, 405, 413
or 503. ``API_AUTH`` (iam, jwt or none; iam when unset) says where the caller is read."""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.common.config import required_setting
from functions.ingest.requests import (
    QueueMessage,
    QueueUnavailable,
    answer,
    auth_mode,
    queue_refusal,
)

logger = Logger(service="ingest")
# Short timeouts and one retry: a client waiting on a dead queue should hear 503 quickly.
sqs = boto3.client(
    "sqs", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2})
)
QUEUE_URL = required_setting("QUEUE_URL")
MAX_MESSAGE_BYTES = int(os.environ.get("MAX_MESSAGE_BYTES", "262144"))
# Unset: iam, so that a function deployed without it refuses anonymous requests rather
# than storing them without a caller. Anything else fails the import: a broken setting.
API_AUTH = auth_mode(os.environ.get("API_AUTH") or "iam")


def send_to_queue(message: QueueMessage) -> str:
    """Put ``message`` on the ingest queue; its SQS message id.

    :class:`~functions.ingest.requests.MessageRefused` when SQS refuses the message for what
    it holds (a retry would be refused again), :class:`QueueUnavailable` for anything else.
    """
    try:
        sent = sqs.send_message(
            QueueUrl=QUEUE_URL,
            MessageBody=message.body,
            MessageGroupId=message.group_id,
            MessageDeduplicationId=message.deduplication_id,
        )
    except ClientError as error:
        details = error.response.get("Error", {})
        refused = queue_refusal(str(details.get("Code", "")), str(details.get("Message", "")))
        if refused is not None:
            raise refused from error
        raise QueueUnavailable(str(error)) from error
    except BotoCoreError as error:
        raise QueueUnavailable(str(error)) from error
    return sent["MessageId"]


@logger.inject_lambda_context
def handler(event, context):
    """The Lambda entry point: :func:`~functions.ingest.requests.answer` with the real queue."""
    return answer(event, send_to_queue, MAX_MESSAGE_BYTES, logger, auth=API_AUTH)
