"""What every function's CloudWatch metrics share: the namespace, the one dimension, and
the deployment prefix that is its value. The relay's (:mod:`functions.relay.metrics`) and
the drain's (:mod:`functions.drain.metrics`) metrics are declared on top of these, and the
catalog's alarms read them. No imports beyond the standard library: the drain's zip and
the CLI import this module."""

from __future__ import annotations

from collections.abc import Mapping

NAMESPACE = "AuroraEvents"
# The one dimension: Powertools' "service", whose value is the deployment's prefix, so two
# deployments in one account and region report apart.
SERVICE_DIMENSION = "service"
# The functions' environment variable that holds the prefix (the catalog sets it), and the
# prefix when it is not set (the catalog's default prefix).
PREFIX_VARIABLE = "AURORA_EVENTS_PREFIX"
DEFAULT_PREFIX = "aurora-events"
# The relay's gauge of the outbox's oldest waiting event (seconds by the server's clock,
# 0 when none waits), published every run: the alarm on a relay that stopped watches it.
OLDEST_PENDING_AGE = "OldestPendingAgeSeconds"


def service_name(environ: Mapping[str, str]) -> str:
    """The value of the metrics' service dimension: the deployment's prefix."""
    return environ.get(PREFIX_VARIABLE) or DEFAULT_PREFIX
