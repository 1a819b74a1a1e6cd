"""The outbox relay's batch, published with SNS ``PublishBatch``: up to 10 entries a call
(and at most SNS's 256 KiB a call in all), each entry's failure reported as that event's,
a malformed event rejected, the calls left when the deadline nears unattempted. See
:mod:`functions.common.event_batches` for the contract."""

from __future__ import annotations

from collections.abc import Iterator

from functions.common.event_batches import BatchAnswer, Deadline
from functions.common.events import MalformedEvent, RowEvent, parse_row_event
from functions.common.reporting import reject_malformed_event
from functions.notify.messages import batch_entry

ENTRIES_PER_CALL = 10  # SNS PublishBatch's limit
BYTES_PER_CALL = 262_144  # SNS: the messages (and attributes) of one call, in all


def entry_size(entry: dict) -> int:
    """What SNS counts of an entry toward a call's limit: its message and attributes."""
    size = len(entry["Message"].encode("utf-8"))
    for name, attribute in entry.get("MessageAttributes", {}).items():
        size += len(name.encode("utf-8")) + len(attribute["DataType"].encode("utf-8"))
        size += len(attribute.get("StringValue", "").encode("utf-8"))
    return size


def calls(entries: list[dict]) -> Iterator[list[dict]]:
    """``entries`` cut into calls of at most 10 entries and 256 KiB each (an entry larger
    than that goes in a call of its own, where SNS refuses it)."""
    call: list[dict] = []
    size = 0
    for entry in entries:
        this = entry_size(entry)
        if this > BYTES_PER_CALL:
            yield [entry]  # alone, so SNS's refusal fails this event and no other
            continue
        if call and (len(call) == ENTRIES_PER_CALL or size + this > BYTES_PER_CALL):
            yield call
            call, size = [], 0
        call.append(entry)
        size += this
    if call:
        yield call


def publish_batch(
    sns, topic_arn: str, logger, events: list, deadline: Deadline | None = None
) -> BatchAnswer:
    """Publish each well-formed event of ``events`` to ``topic_arn``; the answer names the
    malformed ones (rejected: never retried), those SNS did not take (failed: the relay
    retries them) and those of the calls not made once the ``deadline`` was reached
    (unattempted). An entry's id is its position in the batch, so two entries never
    share one."""
    deadline = deadline or Deadline()
    answer = BatchAnswer()
    parsed: dict[str, RowEvent] = {}
    for position, event in enumerate(events):
        try:
            parsed[str(position)] = parse_row_event(event)
        except MalformedEvent as error:
            reject_malformed_event(logger, error, event)
            event_id = event.get("event_id") if isinstance(event, dict) else None
            if isinstance(event_id, str):  # without an id the relay could not name it anyway
                answer.rejected[event_id] = str(error)
    entries = [batch_entry(event, entry_id) for entry_id, event in parsed.items()]
    batches = list(calls(entries))
    for position, call in enumerate(batches):
        if deadline.reached():
            left = [entry for later in batches[position:] for entry in later]
            answer.unattempted = [parsed[entry["Id"]].event_id for entry in left]
            logger.info(
                "stopped before the deadline",
                extra={"calls_made": position, "unattempted": len(left)},
            )
            break
        try:
            response = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=call)
        except Exception as error:  # noqa: BLE001 - the whole call failed: retry its events
            for entry in call:
                answer.failed[parsed[entry["Id"]].event_id] = str(error)
            logger.warning(
                "publish batch failed", extra={"entries": len(call), "error": str(error)}
            )
            continue
        for failure in response.get("Failed", []):
            event = parsed[failure["Id"]]
            reason = f"{failure.get('Code')}: {failure.get('Message', '')}"
            answer.failed[event.event_id] = reason
            logger.warning("not published", extra={"event_id": event.event_id, "error": reason})
    published = len(parsed) - len(answer.failed) - len(answer.unattempted)
    logger.info("published batch", extra={"published": published, "failed": len(answer.failed)})
    return answer
