"""The drain's CloudWatch metric: idempotency conflicts recorded, under which name.

Published as EMF through Powertools Metrics (:mod:`functions.drain.handler`), in the
namespace and with the ``service`` dimension (the deployment's prefix) of
:mod:`functions.common.metric_names`, so the catalog's alarm (``infra/catalog.py``)
reads these constants. No Powertools import here: the catalog imports this module.
"""

from __future__ import annotations

from functions.common.metric_names import (
    NAMESPACE,
    PREFIX_VARIABLE,
    SERVICE_DIMENSION,
    service_name,
)

IDEMPOTENCY_CONFLICTS = "IdempotencyConflicts"

__all__ = [
    "IDEMPOTENCY_CONFLICTS",
    "NAMESPACE",
    "PREFIX_VARIABLE",
    "SERVICE_DIMENSION",
    "service_name",
]
