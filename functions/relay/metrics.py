"""The relay's CloudWatch metrics: what it reports after each run, under which names.

The relay prints them as an EMF document (CloudWatch's embedded metric format, through
Powertools Metrics in :mod:`functions.relay.handler`); on AWS, CloudWatch Logs turns the
document into metrics. The names here are the one declaration: the catalog's alarm on
parked events (``infra/catalog.py``) reads the same constants, so the alarm watches
exactly what the relay publishes. No Powertools import here: the catalog imports this
module, and the CLI should not pay for Powertools to start.
"""

from __future__ import annotations

from collections.abc import Mapping

from functions.relay.outbox import PendingStatus

NAMESPACE = "AuroraEvents"
PARKED_EVENTS = "ParkedEvents"
PENDING_EVENTS = "PendingEvents"
OLDEST_PENDING_AGE = "OldestPendingAgeSeconds"
# The one dimension: Powertools' "service", whose value is the deployment's prefix, so two
# deployments in one account and region report apart.
SERVICE_DIMENSION = "service"
# The relay's environment variable that holds the prefix (the catalog sets it), and the
# prefix when it is not set (the catalog's default prefix).
PREFIX_VARIABLE = "AURORA_EVENTS_PREFIX"
DEFAULT_PREFIX = "aurora-events"


def service_name(environ: Mapping[str, str]) -> str:
    """The value of the metrics' service dimension: the deployment's prefix."""
    return environ.get(PREFIX_VARIABLE) or DEFAULT_PREFIX


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
