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
"""

from __future__ import annotations

from infra.aws.resources.alarms import Alarms
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
