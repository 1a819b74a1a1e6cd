"""The batch contract between the outbox relay and the functions it delivers to.

The relay invokes a target synchronously with ``{"events": [<row event>, ...]}``. The
target answers which events did not make it, in Lambda's partial-batch shape::

    {"batchItemFailures": [{"itemIdentifier": "<event_id>"}],      # retry these
     "rejected": [{"itemIdentifier": "<event_id>", "reason": "..."}],  # never retry
     "unattempted": [{"itemIdentifier": "<event_id>"}]}   # not tried: send again at once

A target that runs short of time stops before its deadline and names the events it did
not try as ``unattempted``: the relay sends them again at once and counts no failure.

Every event not named there was delivered. Receivers deduplicate on ``event_id``: the
relay delivers at least once (a relay that dies after the target answered sends the
same events, with the same ids, again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def batch_request(events: list[dict]) -> dict:
    """What the relay sends a target."""
    return {"events": events}


def is_batch_request(event: Any) -> bool:
    """True for the relay's ``{"events": [...]}``; a row event itself has no such key."""
    return (
        isinstance(event, dict) and set(event) == {"events"} and isinstance(event["events"], list)
    )


@dataclass
class BatchAnswer:
    """A target's answer: which events to retry, and which it refuses for good."""

    failed: dict[str, str] = field(default_factory=dict)  # event_id -> error
    rejected: dict[str, str] = field(default_factory=dict)  # event_id -> reason
    unattempted: list[str] = field(default_factory=list)  # event ids, not tried

    def as_dict(self) -> dict:
        answer = {
            "batchItemFailures": [{"itemIdentifier": key} for key in self.failed],
            "rejected": [
                {"itemIdentifier": key, "reason": reason} for key, reason in self.rejected.items()
            ],
        }
        if self.unattempted:
            answer["unattempted"] = [{"itemIdentifier": key} for key in self.unattempted]
        return answer


class UnreadableAnswer(ValueError):
    """A target's answer is not the batch contract's: the whole batch failed."""


def read_batch_answer(answer: Any, event_ids: list[str]) -> BatchAnswer:
    """Parse a target's answer for a batch of ``event_ids``; :class:`UnreadableAnswer`
    for anything else (a target that does not take batches answers a single-event result).
    An id that was not in the batch makes the answer unreadable, as Lambda treats an
    unknown ``itemIdentifier`` of an SQS batch."""
    if not isinstance(answer, dict) or not isinstance(answer.get("batchItemFailures"), list):
        raise UnreadableAnswer(f"the target did not answer a batch: {str(answer)[:300]}")
    known = set(event_ids)

    def named(item) -> str:
        key = item.get("itemIdentifier") if isinstance(item, dict) else None
        if key not in known:
            raise UnreadableAnswer(f"the target named an event not in the batch: {key!r}")
        return key

    result = BatchAnswer()
    for item in answer["batchItemFailures"]:
        result.failed[named(item)] = "reported as failed by the target"
    for item in answer.get("rejected") or []:
        result.rejected[named(item)] = str(item.get("reason") or "rejected by the target")
    for item in answer.get("unattempted") or []:
        result.unattempted.append(named(item))
    return result
