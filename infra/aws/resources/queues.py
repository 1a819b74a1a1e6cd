"""The catalog's SQS queues (FIFO and dead-letter queues), with the attributes the
declaration implies."""

from __future__ import annotations

import json
from collections.abc import Iterator

from infra.aws.changes import Change
from infra.aws.resources.base import AwsResource, converge
from infra.catalog import QUEUES, QueueSpec


def queue_attributes(queue: QueueSpec, queue_arn) -> dict[str, str]:
    """The SQS attributes that the declaration implies (``queue_arn(name)`` gives ARNs)."""
    attributes = {
        "VisibilityTimeout": str(queue.visibility_timeout_seconds),
        "MessageRetentionPeriod": str(queue.message_retention_seconds),
        "MaximumMessageSize": str(queue.maximum_message_bytes),
    }
    if queue.fifo:
        # Deduplication ids come from the idempotency key, never from the body alone.
        attributes.update(FifoQueue="true", ContentBasedDeduplication="false")
    if queue.dead_letter_queue:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": queue_arn(queue.dead_letter_queue),
                "maxReceiveCount": queue.max_receive_count,
            }
        )
    return attributes


def queue_drift(current: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """The declared attributes whose value differs from ``current`` (FifoQueue cannot
    change: it is set when the queue is made)."""
    return {
        key: value
        for key, value in wanted.items()
        if key != "FifoQueue" and _comparable(current.get(key)) != _comparable(value)
    }


def _comparable(value):
    """Attribute values as SQS returns them may differ in form (JSON text, numbers as text)."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return {key: str(item) for key, item in parsed.items()}
    return value


class Queues(AwsResource):
    """Each declared queue exists with its declared attributes."""

    key = "queues"

    def desired(self) -> dict[str, dict[str, str]]:
        """Each queue's attributes, by declared name; dead-letter queues first (a queue's
        redrive policy names its DLQ)."""
        ordered = sorted(QUEUES, key=lambda q: q.dead_letter_queue is not None)
        return {q.name: queue_attributes(q, self.context.queue_arn) for q in ordered}

    def read(self, queue: str) -> dict[str, str] | None:
        """The queue's attributes, or None while it does not exist."""
        url = self.context.queue_url(queue)
        if url is None:
            return None
        sqs = self.context.client("sqs")
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    def plan(self) -> Iterator[Change]:
        sqs = self.context.client("sqs")
        for queue, wanted in self.desired().items():
            name = next(q for q in QUEUES if q.name == queue).deployed_name(self.deployment)
            yield from converge(
                f"sqs queue {name}",
                self.read(queue),
                create=lambda name=name, wanted=wanted: [
                    Change(
                        f"sqs queue {name}",
                        "create",
                        ", ".join(f"{k}={v}" for k, v in wanted.items() if k != "RedrivePolicy"),
                        run=lambda: sqs.create_queue(
                            QueueName=name, Attributes=wanted, tags=self.tags
                        ),
                    )
                ],
                drift=lambda current, wanted=wanted: [
                    f"{key}: {current.get(key)} -> {value}"
                    for key, value in queue_drift(current, wanted).items()
                ],
                update=lambda current, queue=queue, wanted=wanted: (
                    lambda: sqs.set_queue_attributes(
                        QueueUrl=self.context.queue_url(queue),
                        Attributes=queue_drift(current, wanted),
                    )
                ),
            )

    def plan_destroy(self) -> list[Change]:
        sqs = self.context.client("sqs")
        changes = []
        for queue in QUEUES:
            url = self.context.queue_url(queue.name)
            if url and self.context.ours(sqs.list_queue_tags(QueueUrl=url).get("Tags", {})):
                changes.append(
                    Change(
                        f"sqs queue {queue.deployed_name(self.deployment)}",
                        "delete",
                        run=lambda url=url, name=queue.name: self._delete(name, url),
                    )
                )
        return changes

    def _delete(self, queue: str, url: str) -> None:
        self.context.client("sqs").delete_queue(QueueUrl=url)
        self.context.forget_queue(queue)
