"""The batch contract between the outbox relay and the functions it delivers to.

The relay invokes a target synchronously with ``{"events": [<row event>, ...]}``. The
target answers which events did not make it, in Lambda's partial-batch shape::

    {"batchItemFailures": [{"itemIdentifier": "<event_id>", "reason": "..."}],  # retry these
     "rejected": [{"itemIdentifier": "<event_id>", "reason": "..."}],  # never retry
     "unattempted": [{"itemIdentifier": "<event_id>"}]}  # not tried: send again at once

Every event not named there was delivered. A reason is optional (Lambda's own shape has
none): the relay keeps it as the event's ``last_error``, so an operator reading a parked
event sees why its target failed, not only that it did. A target stops before its deadline
(:class:`Deadline`: while one more call and the answer still fit) and names the events
it did not attempt; the relay sends them again at once, without counting an attempt. It
names them in ``batchItemFailures`` too, so that a relay that predates ``unattempted``
retries them rather than taking them as delivered. Receivers deduplicate on
``event_id``: the relay delivers at least once (a relay that dies after the target
answered sends the same events, with the same ids, again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The client a target calls per event or per call (SES, SNS; functions/common/handlers.py)
# ends every call within CALL_SECONDS, so a batch that stops while BATCH_RESERVE_SECONDS
# are left answers before the function's deadline. One retry (botocore's standard mode:
# a throttled or dropped call, at most 1 s later); beyond that the event fails, and the
# relay retries it after its backoff (Lambda's asynchronous retries, a direct event).
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 4
CALL_ATTEMPTS = 2
CALL_SECONDS = CALL_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + 1
BATCH_RESERVE_SECONDS = CALL_SECONDS + 1  # and a second to log and answer
# A failure's reason is cut to this many characters: a batch of 1,000 failed events still
# answers well within a synchronous invocation's 6 MB response, whatever an error echoes.
REASON_CHARS = 500


def batch_request(events: list[dict]) -> dict:
    """What the relay sends a target."""
    return {"events": events}


def is_batch_request(event: Any) -> bool:
    """True for the relay's ``{"events": [...]}``; a row event itself has no such key."""
    return (
        isinstance(event, dict) and set(event) == {"events"} and isinstance(event["events"], list)
    )


def event_ids(events: list) -> list[str]:
    """The ids of ``events`` that have one (the relay cannot be told about the others)."""
    ids = (event.get("event_id") if isinstance(event, dict) else None for event in events)
    return [event_id for event_id in ids if isinstance(event_id, str)]


@dataclass(frozen=True)
class Deadline:
    """When a target stops working through a batch: once its time left is under
    ``reserve_seconds``, the longest one more call can take plus the answer's way back."""

    time_left: Callable[[], float] = lambda: float("inf")  # seconds
    reserve_seconds: float = 0.0

    @classmethod
    def of(cls, context, reserve_seconds: float) -> Deadline:
        """The deadline of the invocation whose Lambda ``context`` this is."""
        return cls(lambda: context.get_remaining_time_in_millis() / 1000, reserve_seconds)

    def reached(self) -> bool:
        return self.time_left() < self.reserve_seconds


@dataclass
class BatchAnswer:
    """A target's answer: which events to retry, which it refuses for good, and which it
    did not attempt."""

    failed: dict[str, str] = field(default_factory=dict)  # event_id -> error
    rejected: dict[str, str] = field(default_factory=dict)  # event_id -> reason
    unattempted: list[str] = field(default_factory=list)  # event ids

    def as_dict(self) -> dict:
        unattempted = [key for key in self.unattempted if key not in self.failed]
        return {
            "batchItemFailures": [
                *(
                    {"itemIdentifier": key, "reason": error[:REASON_CHARS]}
                    for key, error in self.failed.items()
                ),
                *({"itemIdentifier": key} for key in unattempted),
            ],
            "rejected": [
                {"itemIdentifier": key, "reason": reason} for key, reason in self.rejected.items()
            ],
            "unattempted": [{"itemIdentifier": key} for key in self.unattempted],
        }


class UnreadableAnswer(ValueError):
    """A target's answer is not the batch contract's: the whole batch failed."""


def failure_text(reason: Any) -> str:
    """What the relay records of a failure the target reported, with its reason if any."""
    if isinstance(reason, str) and reason.strip():
        return f"reported as failed by the target: {reason.strip()}"
    return "reported as failed by the target"


def read_batch_answer(answer: Any, event_ids: list[str]) -> BatchAnswer:
    """Parse a target's answer for a batch of ``event_ids``; :class:`UnreadableAnswer`
    for anything else (a target that does not take batches answers a single-event result).
    An id that was not in the batch makes the answer unreadable, as Lambda treats an
    unknown ``itemIdentifier`` of an SQS batch. An unattempted event is only that, even
    though ``batchItemFailures`` names it too."""
    if not isinstance(answer, dict) or not isinstance(answer.get("batchItemFailures"), list):
        raise UnreadableAnswer(f"the target did not answer a batch: {str(answer)[:300]}")
    known = set(event_ids)

    def named(key: str) -> list[str]:
        items = answer.get(key) or []
        if not isinstance(items, list):
            raise UnreadableAnswer(f"the target's {key!r} is not a list: {str(items)[:300]}")
        ids = [item.get("itemIdentifier") if isinstance(item, dict) else None for item in items]
        for event_id in ids:
            if event_id not in known:
                raise UnreadableAnswer(f"the target named an event not in the batch: {event_id!r}")
        return ids

    result = BatchAnswer()
    for key, item in zip(named("batchItemFailures"), answer["batchItemFailures"], strict=True):
        result.failed[key] = failure_text(item.get("reason"))
    for key, item in zip(named("rejected"), answer.get("rejected") or [], strict=True):
        result.rejected[key] = str(item.get("reason") or "rejected by the target")
    for key in named("unattempted"):
        result.failed.pop(key, None)
        result.unattempted.append(key)
    return result
