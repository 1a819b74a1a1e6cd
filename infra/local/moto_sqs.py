"""Two changes to moto's SQS in the local stack's moto server: queue attributes read lazily,
and message bodies checked as SQS checks them.

Message bodies: moto takes any text, and counts a body's length in characters. SQS takes
only the characters its SendMessage documentation lists (refusing the message with
``InvalidMessageContents``), and counts the body's UTF-8 bytes against the queue's
``MaximumMessageSize``. :func:`check_bodies_as_sqs_does` makes moto do the same, so that a
local run cannot pass a message AWS would refuse (:data:`SQS_BODY_CHARACTERS`, written
here from that documentation on its own rather than imported from the ingest's
validation, so that each checks the other).

Queue attributes:

moto 5's ``Queue.attributes`` builds the whole attribute dictionary on every read,
including the three ``ApproximateNumberOfMessages*`` counts, each a scan of every message
in the queue with two clock reads per message. And it is read per message: each
``SendMessage`` (so each SNS notification a subscribed queue gets) asks it for
``ContentBasedDeduplication``, each message ``ReceiveMessage`` returns asks it (three
times) for ``MessageRetentionPeriod``. A queue nobody empties, such as the stack's
notification tail, made every publish to its topic slower as it grew: ``make bench``
measured the local pipeline going from ~70 to ~10 notifications/s within the first
thousand waiting (py-spy: 70% of the server's time in ``Queue.attributes``).

:func:`read_attributes_lazily` replaces the property with a read-only mapping of the same
names and the same values, each computed when it is read: a count is still a scan, but
only when a caller asks for the count (``GetQueueAttributes``).

Both are applied only in the moto server process (:func:`infra.local.aws_server.serve`);
if moto's ``Queue`` or ``SQSBackend`` no longer has the shape this was written for, that
change is not made (and a warning says so).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

log = logging.getLogger(__name__)


class LazyQueueAttributes(Mapping):
    """``Queue.attributes`` as moto 5.2 computes it, one value at a time."""

    def __init__(self, queue, to_attribute_name) -> None:
        self._queue = queue
        self._to_attribute_name = to_attribute_name
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        self._names = list(dict.fromkeys(names))

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        queue = self._queue
        if name == "RedrivePolicy" and queue.redrive_policy:
            value = json.dumps(queue.redrive_policy)
        else:
            value = getattr(queue, self._to_attribute_name(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def read_attributes_lazily() -> bool:
    """Make moto's ``Queue.attributes`` a :class:`LazyQueueAttributes`; False (and nothing
    changed) if this moto's ``Queue`` is not the one it was written for."""
    try:
        from moto.core.utils import camelcase_to_underscores
        from moto.sqs.models import Queue
    except ImportError:
        return False
    expected = ("BASE_ATTRIBUTES", "FIFO_ATTRIBUTES", "KMS_ATTRIBUTES")
    if not isinstance(Queue.__dict__.get("attributes"), property) or not all(
        hasattr(Queue, name) for name in expected
    ):
        log.warning("moto's SQS Queue changed shape: queue attributes stay eager")
        return False
    Queue.attributes = property(  # type: ignore[assignment]
        lambda queue: LazyQueueAttributes(queue, camelcase_to_underscores),
        doc=LazyQueueAttributes.__doc__,
    )
    return True


# SendMessage's documented set: "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
# #x10000 to #x10FFFF" (first and last code point of each range).
SQS_BODY_CHARACTERS = (
    (0x9, 0x9),
    (0xA, 0xA),
    (0xD, 0xD),
    (0x20, 0xD7FF),
    (0xE000, 0xFFFD),
    (0x10000, 0x10FFFF),
)
_OUTSIDE_THE_SET = re.compile(
    "[^" + "".join(f"{chr(first)}-{chr(last)}" for first, last in SQS_BODY_CHARACTERS) + "]"
)
_ALLOWED_TEXT = " | ".join(
    f"#x{first:X}" if first == last else f"#x{first:X} to #x{last:X}"
    for first, last in SQS_BODY_CHARACTERS
)


def refused_character(body: str) -> str | None:
    """The first character of ``body`` outside :data:`SQS_BODY_CHARACTERS`, or None."""
    match = _OUTSIDE_THE_SET.search(body)
    return match.group() if match else None


def check_bodies_as_sqs_does() -> bool:
    """Make moto's SendMessage (and SendMessageBatch) refuse a body as SQS does: a character
    outside the set (``InvalidMessageContents``), or more UTF-8 bytes than the queue's
    ``MaximumMessageSize`` (``InvalidParameterValue``); False (nothing changed) if this
    moto's ``SQSBackend._validate_message`` is not the one it was written for."""
    try:
        from moto.sqs.exceptions import InvalidParameterValue, SQSException
        from moto.sqs.models import SQSBackend
    except ImportError:
        return False
    original = SQSBackend.__dict__.get("_validate_message")
    parameters = list(inspect.signature(original).parameters) if callable(original) else []
    if parameters[:3] != ["self", "queue", "message_body"]:
        log.warning("moto's SQS changed shape: message bodies are not checked as SQS does")
        return False

    class InvalidMessageContents(SQSException):
        def __init__(self, character: str) -> None:
            super().__init__(
                "InvalidMessageContents",
                f"Invalid binary character '#x{ord(character):X}' was found in the message "
                f"body, the set of allowed characters is {_ALLOWED_TEXT}",
            )

    @functools.wraps(original)
    def _validate_message(self, queue, message_body, *args, **kwargs):
        refused = refused_character(message_body)
        if refused is not None:
            raise InvalidMessageContents(refused)
        limit = int(queue.maximum_message_size)
        if len(message_body.encode("utf-8")) > limit:  # bytes, where moto counts characters
            raise InvalidParameterValue(
                "One or more parameters are invalid. Reason: Message must be shorter than "
                f"{limit} bytes."
            )
        return original(self, queue, message_body, *args, **kwargs)

    SQSBackend._validate_message = _validate_message  # type: ignore[method-assign]
    return True
