"""The relay's CloudWatch metrics: what it reports after each run, under which names.

The relay prints them as an EMF document (CloudWatch's embedded metric format, through
Powertools Metrics in :mod:`functions.relay.handler`); on AWS, CloudWatch Logs turns the
document into metrics. The names here (and the oldest waiting event's age, named in
:mod:`functions.common.metric_names`) are the one declaration: the catalog's alarms on
parked events and on a relay that stopped (``infra/catalog.py``) read the same constants,
so the alarms watch exactly what the relay publishes. No Powertools import here: the
catalog imports this module, and the CLI should not pay for Powertools to start.
"""

from __future__ import annotations

from functions.common.metric_names import (
    DEFAULT_PREFIX,
    NAMESPACE,
    OLDEST_PENDING_AGE,
    PREFIX_VARIABLE,
    SERVICE_DIMENSION,
    service_name,
)
from functions.relay.outbox import PendingStatus

PARKED_EVENTS = "ParkedEvents"
PENDING_EVENTS = "PendingEvents"

__all__ = [
    "DEFAULT_PREFIX",
    "NAMESPACE",
    "OLDEST_PENDING_AGE",
    "PARKED_EVENTS",
    "PENDING_EVENTS",
    "PREFIX_VARIABLE",
    "SERVICE_DIMENSION",
    "add_outbox_metrics",
    "outbox_metrics",
    "service_name",
]


def outbox_metrics(status: PendingStatus) -> dict[str, tuple[str, float]]:
    """``{metric: (unit, value)}`` for one run's outbox status. The oldest waiting event's
    age is 0 when nothing waits: a gauge that reads "nothing is late"."""
    return {
        PENDING_EVENTS: ("Count", float(status.pending)),
        PARKED_EVENTS: ("Count", float(status.parked)),
        OLDEST_PENDING_AGE: ("Seconds", status.oldest_pending_seconds or 0.0),
    }


def add_outbox_metrics(metrics, status: PendingStatus) -> None:
    """Add the status to a Powertools ``Metrics`` (published when the handler returns)."""
    for name, (unit, value) in outbox_metrics(status).items():
        metrics.add_metric(name=name, unit=unit, value=value)
