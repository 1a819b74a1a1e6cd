"""One change to moto's SQS in the local stack's moto server: queue attributes read lazily.

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
only when a caller asks for the count (``GetQueueAttributes``). Applied only in the moto
server process (:func:`infra.local.aws_server.serve`); if moto's ``Queue`` no longer has
the shape this was written for, nothing is changed.
"""

from __future__ import annotations

import json
import logging
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
