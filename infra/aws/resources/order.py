"""The deployment's one declared order: the resources of an event path, as data.

``plan`` and ``apply`` walk it first to last, ``destroy`` last to first. Why each stands
where it does:

- topics, queues, the email identity and the execution roles first: the functions and their
  policies name them;
- the VPC endpoints and the RDS Proxy before the functions: the drain's host is the
  proxy's endpoint;
- the layer before the functions: they name its version (nothing when the code runs
  locally);
- the HTTP API after the functions: it invokes the ingest alias;
- the event sources after the functions and queues they join;
- the alarms after the topic, queues and functions they watch;
- the schedules after the functions: their permission is on a function;
- the proxy's retirement (with ``rds_proxy`` off) last: after the drain stopped using it.

:func:`plan` walks it and returns the :class:`~infra.aws.changes.Change` list that would make
the account match the catalog (nothing when it already does); :func:`plan_destroy` walks it
backwards and removes what carries the project's tags and nothing else; :func:`apply` runs
a plan. The same code provisions the local stack on moto and a real AWS account.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.aws.changes import Change, PlanError, apply_changes
from infra.aws.resources.alarms import Alarms
from infra.aws.resources.context import Context
from infra.aws.resources.email_identity import EmailIdentity
from infra.aws.resources.event_sources import EventSources
from infra.aws.resources.execution_roles import ExecutionRoles
from infra.aws.resources.functions import Functions
from infra.aws.resources.http_api import HttpApi
from infra.aws.resources.layer import Layer
from infra.aws.resources.queues import Queues
from infra.aws.resources.rds_proxy import RdsProxy, RdsProxyRetirement
from infra.aws.resources.schedules import Schedules
from infra.aws.resources.topics import Topics
from infra.aws.resources.vpc_endpoints import VpcEndpoints

EVENT_PATH = (
    Topics,
    Queues,
    EmailIdentity,
    ExecutionRoles,
    VpcEndpoints,
    RdsProxy,
    Layer,
    Functions,
    HttpApi,
    EventSources,
    Alarms,
    Schedules,
    RdsProxyRetirement,
)

KEYS = {kind.key: kind for kind in EVENT_PATH}


def unknown_resources(keys: Iterable[str]) -> list[str]:
    """The keys among ``keys`` that name no resource of the declared order."""
    return [key for key in keys if key not in KEYS]


def walk(context: Context, only: Iterable[str] = ()) -> list:
    """The resources of ``context`` in the declared order (those of ``only``, when given)."""
    only = tuple(only)
    unknown = unknown_resources(only)
    if unknown:
        raise PlanError(f"no resource {', '.join(unknown)}: choose among {', '.join(KEYS)}")
    return [context.resource(kind) for kind in EVENT_PATH if not only or kind.key in only]


def plan(context: Context, only: Iterable[str] = ()) -> list[Change]:
    """Every change that would bring the account in line with the catalog (only for the
    resources of ``only``, when given); changes nothing."""
    return [change for resource in walk(context, only) for change in resource.plan()]


def plan_destroy(context: Context, only: Iterable[str] = ()) -> list[Change]:
    """Delete what this deployment created (only resources with its tags), last declared
    first."""
    return [
        change for resource in reversed(walk(context, only)) for change in resource.plan_destroy()
    ]


def apply(context: Context, only: Iterable[str] = ()) -> list[Change]:
    """Converge the account to the catalog; return the changes made."""
    changes = plan(context, only)
    apply_changes(changes)
    return changes
