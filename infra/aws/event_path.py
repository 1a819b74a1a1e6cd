"""The event path: the catalog's resources on AWS, planned and applied in the one declared
order (:data:`infra.aws.resources.order.EVENT_PATH`): SNS topics, SQS queues (FIFO + DLQ),
the SES identity, one least-privilege execution role per function, the VPC endpoints and
RDS Proxy when on, the dependencies layer, the functions, the HTTP API in front of ingest,
the event source mappings, the alarms and the schedules. Each kind is one module under
:mod:`infra.aws.resources`.

:class:`EventPath` is a thin facade over that list (kept while callers and tests use it):
:meth:`EventPath.plan` walks it and returns the :class:`~infra.aws.changes.Change` list that
would make the account match the catalog (nothing when it already does);
:meth:`EventPath.plan_destroy` walks it backwards and removes what carries the project's
tags and nothing else. The same code provisions the local stack on moto and a real AWS
account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.aws.changes import Change, PlanError, apply_changes
from infra.aws.function_versions import alias_arn
from infra.aws.resources.alarms import Alarms
from infra.aws.resources.context import Context, EventPathOptions, Target
from infra.aws.resources.execution_roles import ExecutionRoles
from infra.aws.resources.functions import Functions
from infra.aws.resources.http_api import HttpApi
from infra.aws.resources.layer import Layer
from infra.aws.resources.order import EVENT_PATH, KEYS
from infra.aws.resources.queues import queue_attributes
from infra.aws.resources.rds_proxy import RdsProxy
from infra.aws.resources.schedules import Schedules
from infra.aws.resources.vpc_endpoints import VpcEndpoints
from infra.catalog import FUNCTIONS, QUEUES, TOPICS, Deployment, FunctionSpec

__all__ = [
    "EventPath",
    "EventPathOptions",
    "EventPathResources",
    "PlanError",
    "Target",
    "apply_event_path",
    "queue_attributes",
]


@dataclass
class EventPathResources:
    """What exists after an apply, by declared (not deployed) name."""

    topic_arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)  # unqualified
    # What callers invoke: each function's alias live (``<function ARN>:live``).
    live_arns: dict[str, str] = field(default_factory=dict)
    function_environments: dict[str, dict[str, str]] = field(default_factory=dict)


def apply_event_path(
    deployment: Deployment, options: EventPathOptions | None = None
) -> EventPathResources:
    """Converge the event path to the catalog; return what exists."""
    path = EventPath(deployment, options=options)
    apply_changes(path.plan())
    return path.resources()


def unknown_resources(keys) -> list[str]:
    """The keys among ``keys`` that name no resource of the declared order."""
    return [key for key in keys if key not in KEYS]


class EventPath:
    """The declared order of one deployment in one account and region."""

    def __init__(
        self,
        deployment: Deployment,
        target: Target | None = None,
        *,
        adopt_existing_roles: bool = False,
        options: EventPathOptions | None = None,
        only: tuple[str, ...] = (),
    ) -> None:
        """``adopt_existing_roles``: take over (tag) an execution role of this deployment's
        name that lacks its tags; without it such a role makes :meth:`plan` fail.
        ``only``: plan (and destroy) only the resources of these keys."""
        self.context = Context(
            deployment,
            target or Target.current(),
            options or EventPathOptions(),
            adopt_existing_roles,
        )
        unknown = unknown_resources(only)
        if unknown:
            raise PlanError(f"no resource {', '.join(unknown)}: choose among {', '.join(KEYS)}")
        self.only = tuple(only)

    @property
    def deployment(self) -> Deployment:
        return self.context.deployment

    @property
    def target(self) -> Target:
        return self.context.target

    @property
    def options(self) -> EventPathOptions:
        return self.context.options

    @options.setter
    def options(self, options: EventPathOptions) -> None:
        self.context.options = options

    def walk(self) -> list:
        """The resources in the declared order (those of ``only``, when given)."""
        return [
            self.context.resource(kind)
            for kind in EVENT_PATH
            if not self.only or kind.key in self.only
        ]

    def plan(self) -> list[Change]:
        """Every change that would bring the account in line with the catalog."""
        return [change for resource in self.walk() for change in resource.plan()]

    def plan_destroy(self) -> list[Change]:
        """Delete what this deployment created (only resources with its tags), last
        declared first."""
        return [change for resource in reversed(self.walk()) for change in resource.plan_destroy()]

    # -- the resources, for callers that look into one ---------------------------------

    @property
    def alarms(self) -> Alarms:
        return self.context.resource(Alarms)

    @property
    def http_api(self) -> HttpApi:
        return self.context.resource(HttpApi)

    @property
    def rds_proxy(self) -> RdsProxy:
        return self.context.resource(RdsProxy)

    @property
    def vpc_endpoints(self) -> VpcEndpoints:
        return self.context.resource(VpcEndpoints)

    @property
    def schedules(self) -> Schedules:
        return self.context.resource(Schedules)

    @property
    def layer(self) -> Layer:
        return self.context.resource(Layer)

    @property
    def functions(self) -> Functions:
        return self.context.resource(Functions)

    def role_policy(self, spec: FunctionSpec) -> dict:
        return self.context.resource(ExecutionRoles).role_policy(spec)

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        return self.functions.environment(spec)

    def function_layers(self, spec: FunctionSpec) -> list[str]:
        return self.functions.function_layers(spec)

    def secret_arn(self, setting: str = "database_secret_id") -> str:
        return self.context.secret_arn(setting)

    def queue_arn(self, queue: str) -> str:
        return self.context.queue_arn(queue)

    def topic_arn(self, topic: str) -> str:
        return self.context.topic_arn(topic)

    def resources(self) -> EventPathResources:
        """Live identifiers of the declared resources (after an apply)."""
        context = self.context
        found = EventPathResources()
        found.topic_arns = {t.name: context.topic_arn(t.name) for t in TOPICS}
        for queue in QUEUES:
            found.queue_urls[queue.name] = context.queue_url(queue.name)
            found.queue_arns[queue.name] = context.queue_arn(queue.name)
        lambda_ = context.client("lambda")
        for spec in FUNCTIONS:
            configuration = lambda_.get_function(FunctionName=context.function_name(spec))[
                "Configuration"
            ]
            found.function_arns[spec.name] = configuration["FunctionArn"]
            found.live_arns[spec.name] = alias_arn(configuration["FunctionArn"])
            found.function_environments[spec.name] = self.environment(spec)
        return found
