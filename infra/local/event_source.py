"""A local SQS event source mapping: polls a queue and invokes a function with batches,
the way Lambda's mapping does, including what moto's own mapping does not do
(see shared/reference/sqs-fifo-and-moto.md): batches of up to ``batch_size``, partial
batch responses (``batchItemFailures``), and the visibility timeout of failed messages.

Failed messages stay in flight for ``visibility_seconds`` and are then released with
``ChangeMessageVisibility(0)`` in order, rather than left to expire: moto redelivers an
expired FIFO group out of order. Deleted are only the messages the function did not
report. Moving a message to the DLQ after maxReceiveCount receives is the queue's job.
"""

from __future__ import annotations

import json
import logging
import threading

import boto3

from infra.local.lambda_runtime import LambdaRuntime
from infra.local.log_limits import OncePerInterval, log_swallowed

log = logging.getLogger(__name__)
RECEIVE_VISIBILITY_SECONDS = 300  # longer than any local invocation: we release explicitly


def sqs_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    """Lambda's SQS event for a batch of received messages."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def failed_message_ids(outcome, messages: list[dict]) -> set[str]:
    """Which messages go back to the queue: those reported, or all on an error or a bad answer."""
    every = {message["MessageId"] for message in messages}
    if outcome.error is not None or not isinstance(outcome.result, dict):
        return every
    failures = outcome.result.get("batchItemFailures", [])
    reported = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
    if not reported <= every:  # Lambda treats an unknown id as a failure of the whole batch
        return every
    return reported


class SqsEventSourcePoller:
    """``max_concurrency`` pollers on one queue, each invoking ``function_name``."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        function_name: str,
        queue_url: str,
        queue_arn: str,
        *,
        batch_size: int = 10,
        max_concurrency: int = 2,
        visibility_seconds: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.function_name = function_name
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.visibility_seconds = visibility_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._paused = threading.Event()
        # moto's ReceiveMessage is not atomic: two concurrent receives can both take
        # messages of one FIFO group, breaking its order. One receive at a time.
        self._receive_lock = threading.Lock()
        self._poll_errors = OncePerInterval()  # logged once per kind a minute (log_limits)

    def start(self) -> None:
        for number in range(self.max_concurrency):
            thread = threading.Thread(target=self._poll, daemon=True, name=f"esm-{number}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def pause(self) -> None:
        """Stop taking messages (like disabling the mapping); ``resume()`` to go on."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def _poll(self) -> None:
        sqs = boto3.client("sqs")
        while not self._stop.is_set():
            if self._paused.is_set():
                self._stop.wait(0.1)
                continue
            try:
                self.poll_once(sqs)
            except Exception as error:  # keep polling, as the real mapping does
                log_swallowed(
                    log,
                    self._poll_errors,
                    error,
                    "polling %s failed",
                    self.queue_url,
                    traceback=True,
                )
                self._stop.wait(1)

    def poll_once(self, sqs) -> int:
        """Receive one batch, invoke, delete what succeeded, release what failed."""
        with self._receive_lock:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.batch_size,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
            ).get("Messages", [])
        if not messages:
            self._stop.wait(0.05)  # no long poll: it would hold the lock
            return 0
        event = sqs_event(messages, self.queue_arn, sqs.meta.region_name)
        outcome = self.runtime.invoke(self.function_name, event)
        failed = failed_message_ids(outcome, messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        if failed:
            if outcome.error is not None:
                log.warning("%s failed: %s", self.function_name, json.dumps(outcome.error)[:500])
            self._stop.wait(self.visibility_seconds)  # the visibility timeout, held in order
            for message in messages:
                if message["MessageId"] in failed:
                    sqs.change_message_visibility(
                        QueueUrl=self.queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
        return len(messages)
