"""What the resources of one plan share: the deployment and its settings, the account and
region (:class:`Target`), the project's tags, one boto3 client per service, the names and
ARNs the catalog's declarations resolve to, and the resources themselves (one instance
each, so that one resource reads what another planned, e.g. the proxy's endpoint)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import boto3

from infra.aws.changes import PlanError
from infra.aws.settings import current_region
from infra.aws.tags import is_project_resource, project_tags
from infra.catalog import (
    DatabaseSecretArn,
    Deployment,
    EmailIdentityArn,
    FunctionArn,
    FunctionSpec,
    QueueArn,
    TopicArn,
    queue_spec,
)

R = TypeVar("R")


@dataclass(frozen=True)
class Target:
    """The account and region resources go to; predicts their ARNs."""

    account: str
    region: str
    partition: str = "aws"

    @classmethod
    def current(cls) -> Target:
        """From boto3's standard chain (credentials, region) and STS."""
        arn = boto3.client("sts").get_caller_identity()["Arn"]
        region = current_region()
        if not region:
            raise PlanError("no AWS region: pass --region, or set AWS_REGION / a profile's region")
        return cls(account=arn.split(":")[4], region=region, partition=arn.split(":")[1])

    def arn(self, service: str, resource: str, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"


@dataclass(frozen=True)
class EventPathOptions:
    """How an event path departs from the one AWS runs; only the local stack departs,
    and says why where it does."""

    # The SQS event source mappings run (on AWS, they are what feeds the drain).
    event_sources_enabled: bool = True
    # Publish the dependencies layer (PyMySQL, Powertools) and attach it to the functions
    # (AWS runs the code; the local runtime runs it from this repository).
    vendor_dependencies: bool = True


class Context:
    """One plan's shared state for one deployment in one account and region."""

    def __init__(
        self,
        deployment: Deployment,
        target: Target | None = None,
        options: EventPathOptions | None = None,
        adopt_existing_roles: bool = False,
    ) -> None:
        """``target``: the account and region (default: boto3's, :meth:`Target.current`);
        ``options``: as AWS runs it by default. ``adopt_existing_roles``: take over (tag) an
        execution role of this deployment's name that lacks its tags; without it such a
        role makes the plan fail."""
        self.deployment = deployment
        self.target = target or Target.current()
        self.options = options or EventPathOptions()
        self.adopt_existing_roles = adopt_existing_roles
        self.tags = project_tags(deployment.prefix)
        self._clients: dict[str, object] = {}
        self._resources: dict[type, object] = {}
        self._queue_urls: dict[str, str] = {}

    def client(self, service: str):
        """The plan's boto3 client of ``service`` (made once)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service)
        return self._clients[service]

    def resource(self, kind: type[R]) -> R:
        """The plan's one instance of the resource ``kind``."""
        if kind not in self._resources:
            self._resources[kind] = kind(self)
        return self._resources[kind]

    def ours(self, tags) -> bool:
        """The tags are this deployment's."""
        return is_project_resource(tags, self.deployment.prefix)

    # -- names and ARNs ----------------------------------------------------------------

    def topic_arn(self, topic: str) -> str:
        return self.target.arn("sns", self.deployment.resource_name(topic))

    def queue_arn(self, queue: str) -> str:
        return self.target.arn("sqs", queue_spec(queue).deployed_name(self.deployment))

    def function_name(self, spec: FunctionSpec) -> str:
        return self.deployment.resource_name(spec.name)

    def role_arn(self, spec: FunctionSpec) -> str:
        name = self.deployment.resource_name(spec.name)
        return self.target.arn("iam", f"role/{name}", regional=False)

    def in_vpc(self, spec: FunctionSpec) -> bool:
        """The function runs in the deployment's VPC (declared so, and subnets are given)."""
        return spec.in_vpc and bool(self.deployment.subnet_ids)

    def queue_url(self, queue: str) -> str | None:
        """The queue's URL, or None while it does not exist (found URLs are remembered)."""
        if queue not in self._queue_urls:
            sqs = self.client("sqs")
            try:
                name = queue_spec(queue).deployed_name(self.deployment)
                self._queue_urls[queue] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except sqs.exceptions.QueueDoesNotExist:
                return None
        return self._queue_urls[queue]

    def forget_queue(self, queue: str) -> None:
        """A deleted queue's URL is no longer remembered."""
        self._queue_urls.pop(queue, None)

    def secret_arn(self, setting: str = "database_secret_id") -> str:
        secret = getattr(self.deployment, setting)
        if not secret:
            whose = "the relay" if setting.startswith("relay") else "the drain"
            raise PlanError(f"{whose} needs its database secret: set {setting}")
        secrets = self.client("secretsmanager")
        try:
            return secrets.describe_secret(SecretId=secret)["ARN"]
        except secrets.exceptions.ResourceNotFoundException:
            raise PlanError(
                f"database secret {secret!r} does not exist in Secrets Manager"
            ) from None

    def resource_arn(self, resource) -> str:
        if isinstance(resource, TopicArn):
            return self.topic_arn(resource.topic)
        if isinstance(resource, QueueArn):
            return self.queue_arn(resource.queue)
        if isinstance(resource, DatabaseSecretArn):
            return self.secret_arn(resource.setting)
        if isinstance(resource, EmailIdentityArn):
            return self.target.arn("ses", f"identity/{self.deployment.email_from}")
        if isinstance(resource, FunctionArn):
            name = self.deployment.resource_name(resource.function)
            return self.target.arn("lambda", f"function:{name}")
        raise TypeError(f"no ARN for {resource!r}")

    def permission_resource(self, resource) -> str | list[str]:
        """The ``Resource`` of a declared permission: a function with its qualified forms
        (``:*``, versions and aliases), as Aurora's invoke policy writes them."""
        arn = self.resource_arn(resource)
        return [arn, f"{arn}:*"] if isinstance(resource, FunctionArn) else arn
