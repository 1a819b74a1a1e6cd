"""The event path's resources, planned and applied from the catalog: SNS topics, SQS
queues (FIFO + DLQ), the SES identity, one least-privilege execution role per function,
the functions (zip, configuration, async-invocation settings), the HTTP API in front of
ingest (:mod:`infra.aws.http_api`), the event source mapping, the schedules
(:mod:`infra.aws.schedules`) and the alarms (:mod:`infra.aws.alarms`).
An execution role of this deployment's name that lacks its tags is someone else's until
adopted (``adopt_existing_roles``): the plan refuses it rather than rewrite it.

:meth:`EventPath.plan` reads what exists and returns the :class:`~infra.aws.changes.Change`
list that would make it match the catalog (nothing when it already does); ``apply`` runs
them; :meth:`EventPath.plan_destroy` removes what carries the project's tags and nothing
else. The same code provisions the local stack on moto and a real AWS account.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3
from botocore.exceptions import ClientError

from infra.aws.alarms import Alarms
from infra.aws.changes import Change, PlanError, apply_changes
from infra.aws.dependency_layer import DATABASE_CA_ON_LAMBDA, DependencyLayer
from infra.aws.function_versions import (
    alias_arn,
    configuration_differences,
    plan_live_alias,
    wait_until_updated,
)
from infra.aws.http_api import INGEST_FUNCTION, HttpApi
from infra.aws.iam_roles import (
    attached_policy_arns,
    inline_policy_names,
    plan_service_role,
    role_tags,
)
from infra.aws.packaging import (
    LAMBDA_RUNTIME,
    POWERTOOLS,
    FunctionContents,
    build_function_zip,
    function_contents,
    lambda_code_sha256,
)
from infra.aws.policy_documents import policy_drift
from infra.aws.rds_proxy import RdsProxy
from infra.aws.schedules import Schedules
from infra.aws.settings import current_region
from infra.aws.tags import is_project_resource, project_tags, tag_list
from infra.aws.vpc_endpoints import VpcEndpoints
from infra.catalog import (
    ALARM_TOPIC,
    EVENT_SOURCES,
    FUNCTIONS,
    LIVE_ALIAS,
    QUEUES,
    TOPICS,
    DatabaseSecretArn,
    Deployment,
    EmailIdentityArn,
    EventSourceSpec,
    FunctionArn,
    FunctionSpec,
    QueueArn,
    QueueSpec,
    TopicArn,
    queue_spec,
    reserved_concurrency,
    resolve_environment,
)

LAMBDA_SERVICE = "lambda.amazonaws.com"
ROLE_POLICY_NAME = "least-privilege"
# Earlier deployments attached this managed policy to in-VPC functions' roles: its logs
# statement is on "*". The inline policy now holds what it gave; apply detaches it.
VPC_ACCESS_POLICY = "arn:{partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
# What Lambda needs to give an in-VPC function its network interfaces (the managed
# policy's EC2 actions, as of its version 3). On "*": the Describe actions allow no
# narrower resource, and the interfaces Lambda creates, deletes and assigns addresses to
# do not exist before it makes them, so no ARN can name them in advance.
VPC_NETWORK_INTERFACE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


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


@dataclass(frozen=True)
class EventPathOptions:
    """How an event path departs from the one AWS runs; only the local stack departs,
    and says why where it does."""

    # The SQS event source mappings run (on AWS, they are what feeds the drain).
    event_sources_enabled: bool = True
    # Publish the dependencies layer (PyMySQL, Powertools) and attach it to the functions
    # (AWS runs the code; the local runtime runs it from this repository).
    vendor_dependencies: bool = True


def apply_event_path(
    deployment: Deployment, options: EventPathOptions | None = None
) -> EventPathResources:
    """Converge the event path to the catalog; return what exists."""
    path = EventPath(deployment, options=options)
    apply_changes(path.plan())
    return path.resources()


class EventPath:
    """Plans for one deployment in one account and region."""

    def __init__(
        self,
        deployment: Deployment,
        target: Target | None = None,
        *,
        adopt_existing_roles: bool = False,
        options: EventPathOptions | None = None,
    ) -> None:
        """``adopt_existing_roles``: take over (tag) an execution role of this deployment's
        name that lacks its tags; without it such a role makes :meth:`plan` fail."""
        self.deployment = deployment
        self.options = options or EventPathOptions()
        self.target = target or Target.current()
        self.adopt_existing_roles = adopt_existing_roles
        self.tags = project_tags(deployment.prefix)
        self.sns = boto3.client("sns")
        self.sqs = boto3.client("sqs")
        self.ses = boto3.client("ses")
        self.iam = boto3.client("iam")
        self.lambda_ = boto3.client("lambda")
        self.secrets = boto3.client("secretsmanager")
        self.schedules = Schedules(
            deployment,
            rule_arn=lambda name: self.target.arn("events", f"rule/{name}"),
            function_arn=lambda function: self.resource_arn(FunctionArn(function)),
            tags=self.tags,
            events=boto3.client("events"),
            lambda_=self.lambda_,
        )
        rds = boto3.client("rds")
        self.rds_proxy = RdsProxy(
            deployment,
            self.target,
            self.tags,
            iam=self.iam,
            rds=rds,
            secrets=self.secrets,
            kms=boto3.client("kms"),
            adopt_existing_roles=adopt_existing_roles,
        )
        self.vpc_endpoints = VpcEndpoints(
            deployment, self.target, self.tags, ec2=boto3.client("ec2"), rds=rds
        )
        self.alarms = Alarms(
            deployment,
            topic_arn=self.topic_arn(ALARM_TOPIC),
            tags=self.tags,
            cloudwatch=boto3.client("cloudwatch"),
            sns=self.sns,
        )
        self._packages: dict[str, bytes] = {}
        self._contents = {spec.name: function_contents(spec.handler) for spec in FUNCTIONS}
        self.layer = DependencyLayer(self.lambda_, deployment, self._layer_libraries())
        self.http_api = HttpApi(
            deployment,
            execute_api_arn=lambda resource: self.target.arn("execute-api", resource),
            log_group_arn=lambda name: self.target.arn("logs", f"log-group:{name}"),
            function_arn=self.resource_arn(FunctionArn(INGEST_FUNCTION)),
            tags=self.tags,
            apigateway=boto3.client("apigatewayv2"),
            logs=boto3.client("logs"),
            lambda_=self.lambda_,
        )
        self._queue_urls: dict[str, str] = {}

    # -- names and ARNs ----------------------------------------------------------------

    def topic_arn(self, topic: str) -> str:
        return self.target.arn("sns", self.deployment.resource_name(topic))

    def queue_arn(self, queue: str) -> str:
        return self.target.arn("sqs", queue_spec(queue).deployed_name(self.deployment))

    def role_name(self, spec: FunctionSpec) -> str:
        return self.deployment.resource_name(spec.name)

    def role_arn(self, spec: FunctionSpec) -> str:
        return self.target.arn("iam", f"role/{self.role_name(spec)}", regional=False)

    def function_name(self, spec: FunctionSpec) -> str:
        return self.deployment.resource_name(spec.name)

    def in_vpc(self, spec: FunctionSpec) -> bool:
        """The function runs in the deployment's VPC (declared so, and subnets are given)."""
        return spec.in_vpc and bool(self.deployment.subnet_ids)

    def queue_url(self, queue: str) -> str | None:
        """The queue's URL, or None while it does not exist (found URLs are remembered)."""
        if queue not in self._queue_urls:
            try:
                name = queue_spec(queue).deployed_name(self.deployment)
                self._queue_urls[queue] = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except self.sqs.exceptions.QueueDoesNotExist:
                return None
        return self._queue_urls[queue]

    def secret_arn(self, setting: str = "database_secret_id") -> str:
        secret = getattr(self.deployment, setting)
        if not secret:
            whose = "the relay" if setting.startswith("relay") else "the drain"
            raise PlanError(f"{whose} needs its database secret: set {setting}")
        try:
            return self.secrets.describe_secret(SecretId=secret)["ARN"]
        except self.secrets.exceptions.ResourceNotFoundException:
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

    # -- the plan ----------------------------------------------------------------------

    def plan(self) -> list[Change]:
        """Every change that would bring the account in line with the catalog."""
        return [
            *self._plan_topics(),
            *self._plan_queues(),
            *self._plan_email_identity(),
            *(change for spec in FUNCTIONS for change in self._plan_role(spec)),
            *self.vpc_endpoints.plan(),
            *self.rds_proxy.plan(),  # before the functions: the drain's host is its endpoint
            # Before the functions: they name its version. None when the code runs locally.
            *(self.layer.plan() if self.options.vendor_dependencies else ()),
            *(change for spec in FUNCTIONS for change in self._plan_function(spec)),
            *self.http_api.plan(),  # after the functions: it invokes the ingest alias
            *(change for source in EVENT_SOURCES for change in self._plan_event_source(source)),
            *self.alarms.plan(),  # after the topic, queues and functions they watch
            *self.schedules.plan(),  # after the functions: the permission is on a function
            *self.rds_proxy.plan_retirement(),  # off: after the drain stopped using it
        ]

    def _plan_topics(self) -> Iterator[Change]:
        for topic in TOPICS:
            name = self.deployment.resource_name(topic.name)
            try:
                self.sns.get_topic_attributes(TopicArn=self.topic_arn(topic.name))
            except self.sns.exceptions.NotFoundException:
                yield Change(
                    f"sns topic {name}",
                    "create",
                    run=lambda name=name: self.sns.create_topic(
                        Name=name, Tags=tag_list(self.tags)
                    ),
                )

    def _plan_queues(self) -> Iterator[Change]:
        # Dead-letter queues first: a queue's redrive policy names its DLQ.
        for queue in sorted(QUEUES, key=lambda q: q.dead_letter_queue is not None):
            name = queue.deployed_name(self.deployment)
            wanted = queue_attributes(queue, self.queue_arn)
            url = self.queue_url(queue.name)
            if url is None:
                yield Change(
                    f"sqs queue {name}",
                    "create",
                    ", ".join(f"{k}={v}" for k, v in wanted.items() if k != "RedrivePolicy"),
                    run=lambda name=name, wanted=wanted: self.sqs.create_queue(
                        QueueName=name, Attributes=wanted, tags=self.tags
                    ),
                )
                continue
            current = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
                "Attributes"
            ]
            changed = {
                key: value
                for key, value in wanted.items()
                if key != "FifoQueue" and _comparable(current.get(key)) != _comparable(value)
            }
            if changed:
                yield Change(
                    f"sqs queue {name}",
                    "update",
                    "; ".join(f"{k}: {current.get(k)} -> {v}" for k, v in changed.items()),
                    run=lambda url=url, changed=changed: self.sqs.set_queue_attributes(
                        QueueUrl=url, Attributes=changed
                    ),
                )

    def _plan_email_identity(self) -> Iterator[Change]:
        address = self.deployment.email_from
        known = self.ses.get_identity_verification_attributes(Identities=[address])[
            "VerificationAttributes"
        ]
        if address not in known:
            yield Change(
                f"ses identity {address}",
                "verify",
                "SES sends a verification email; sending works once it is confirmed",
                run=lambda: self.ses.verify_email_identity(EmailAddress=address),
            )

    def role_policy(self, spec: FunctionSpec) -> dict:
        """The execution role's inline policy: its logs, its declared permissions, its DLQ,
        and in a VPC the network interface actions Lambda needs (on "*", as AWS requires)."""
        log_group = self.target.arn("logs", f"log-group:/aws/lambda/{self.function_name(spec)}")
        statements = [
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group, f"{log_group}:*"],
            }
        ]
        for number, permission in enumerate(spec.permissions, 1):
            statements.append(
                {
                    "Sid": f"Declared{number}",
                    "Effect": "Allow",
                    "Action": list(permission.actions),
                    "Resource": self.permission_resource(permission.resource),
                }
            )
        if spec.on_failure_queue:
            statements.append(
                {
                    "Sid": "OnFailureDestination",
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage"],
                    "Resource": self.queue_arn(spec.on_failure_queue),
                }
            )
        if self.in_vpc(spec):
            statements.append(
                {
                    "Sid": "VpcNetworkInterfaces",
                    "Effect": "Allow",
                    "Action": list(VPC_NETWORK_INTERFACE_ACTIONS),
                    "Resource": "*",
                }
            )
        return {"Version": "2012-10-17", "Statement": statements}

    def _plan_role(self, spec: FunctionSpec) -> Iterator[Change]:
        name = self.role_name(spec)
        policy = self.role_policy(spec)
        resource = f"iam role {name}"
        role, changes = plan_service_role(
            self.iam,
            name,
            LAMBDA_SERVICE,
            self.tags,
            f"Execution role of {self.function_name(spec)}",
            prefix=self.deployment.prefix,
            adopt=self.adopt_existing_roles,
        )
        yield from changes
        current_policy = None
        if role is not None:
            with contextlib.suppress(self.iam.exceptions.NoSuchEntityException):
                current_policy = self.iam.get_role_policy(
                    RoleName=name, PolicyName=ROLE_POLICY_NAME
                )["PolicyDocument"]
        drift = policy_drift(current_policy or {}, policy)
        if current_policy is None or drift:
            yield Change(
                f"{resource} policy {ROLE_POLICY_NAME}",
                "set" if current_policy is None else "update",
                "; ".join(drift),
                run=lambda: self.iam.put_role_policy(
                    RoleName=name, PolicyName=ROLE_POLICY_NAME, PolicyDocument=json.dumps(policy)
                ),
            )
        # After the inline policy: an in-VPC function keeps its network permissions throughout.
        managed = VPC_ACCESS_POLICY.format(partition=self.target.partition)
        if role is not None and managed in attached_policy_arns(self.iam, name):
            yield Change(
                resource,
                "detach",
                f"{managed} (its logs statement is on *; the inline policy "
                f"{ROLE_POLICY_NAME} holds what the function needs)",
                run=lambda: self.iam.detach_role_policy(RoleName=name, PolicyArn=managed),
            )

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        queue_urls = {q.name: self.queue_url(q.name) or f"<url of queue {q.name}>" for q in QUEUES}
        topic_arns = {t.name: self.topic_arn(t.name) for t in TOPICS}
        environment = resolve_environment(spec, self.deployment, topic_arns, queue_urls)
        if "DATABASE_TLS_CA" in environment and self.options.vendor_dependencies:
            # The bundle travels in the dependencies layer (database_tls_ca names the file
            # here); the functions that connect carry that layer (they import PyMySQL).
            environment["DATABASE_TLS_CA"] = DATABASE_CA_ON_LAMBDA
        return self.rds_proxy.client_environment(spec, environment)

    def function_settings(self, spec: FunctionSpec) -> dict:
        settings = {
            "Role": self.role_arn(spec),
            "Handler": spec.handler,
            "Runtime": LAMBDA_RUNTIME,
            "Timeout": spec.timeout_seconds,
            "MemorySize": spec.memory_mb,
            "Environment": {"Variables": self.environment(spec)},
            "Description": spec.description,
            "Layers": self.function_layers(spec),
        }
        if self.in_vpc(spec):
            settings["VpcConfig"] = {
                "SubnetIds": list(self.deployment.subnet_ids),
                "SecurityGroupIds": list(self.deployment.security_group_ids),
            }
        return settings

    # -- packages and layers -------------------------------------------------------------

    def contents(self, spec: FunctionSpec) -> FunctionContents:
        """What the function's zip holds and which libraries its code imports."""
        return self._contents[spec.name]

    def _public_powertools(self) -> bool:
        return bool(self.deployment.powertools_layer_arn)

    def _layer_libraries(self) -> set[str]:
        """What the project's layer holds: every library a function imports, but
        Powertools when AWS's public layer gives it."""
        libraries = {name for c in self._contents.values() for name in c.layer_libraries()}
        return libraries - {POWERTOOLS} if self._public_powertools() else libraries

    def function_layers(self, spec: FunctionSpec) -> list[str]:
        """The layers the function needs: the project's when it imports a library the layer
        holds, AWS's public Powertools layer (when set) when it imports Powertools."""
        if not self.options.vendor_dependencies:
            return []
        imported = self.contents(spec).layer_libraries()
        layers = [self.layer.version_arn] if imported & self.layer.libraries else []
        if self._public_powertools() and POWERTOOLS in imported:
            layers.append(self.deployment.powertools_layer_arn)
        return layers

    def package(self, spec: FunctionSpec) -> bytes:
        """The function's zip: its own code, nothing vendored (see :mod:`infra.aws.packaging`)."""
        if spec.name not in self._packages:
            self._packages[spec.name] = build_function_zip(spec.handler)
        return self._packages[spec.name]

    # -- functions -----------------------------------------------------------------------

    def live_arn(self, function: str) -> str:
        """The ARN callers invoke: the function's alias ``live``."""
        return alias_arn(self.resource_arn(FunctionArn(function)))

    def _plan_function(self, spec: FunctionSpec) -> Iterator[Change]:
        name = self.function_name(spec)
        resource = f"lambda function {name}"
        settings = self.function_settings(spec)
        code_sha = lambda_code_sha256(self.package(spec))
        try:
            current = self.lambda_.get_function(FunctionName=name)["Configuration"]
        except self.lambda_.exceptions.ResourceNotFoundException:
            current = None
            yield Change(
                resource,
                "create",
                f"{spec.handler}, {spec.timeout_seconds} s, {spec.memory_mb} MB",
                run=lambda: self._create_function(spec),
            )
        differing = configuration_differences(current, settings) if current else []
        code_changed = current is not None and current.get("CodeSha256") != code_sha
        if differing:
            # Settings read when the change runs: a layer published by an earlier change.
            yield Change(
                resource,
                "update",
                "configuration: " + ", ".join(differing),
                run=lambda: self._update(
                    name,
                    lambda: self.lambda_.update_function_configuration(
                        FunctionName=name, **self.function_settings(spec)
                    ),
                ),
            )
        if code_changed:
            yield Change(
                resource,
                "update",
                f"code (zip {len(self.package(spec)) / 1024:.0f} KiB)",
                run=lambda: self._update(
                    name,
                    lambda: self.lambda_.update_function_code(
                        FunctionName=name, ZipFile=self.package(spec)
                    ),
                ),
            )
        yield from plan_live_alias(
            self.lambda_,
            name,
            code_sha,
            settings,
            exists=current is not None,
            changing=bool(differing or code_changed),
        )
        yield from self._plan_async_settings(spec, exists=current is not None)
        yield from self._plan_reserved_concurrency(spec, exists=current is not None)

    def _update(self, name: str, update) -> None:
        # Lambda refuses an update while the previous one is still being applied.
        wait_until_updated(self.lambda_, name)
        update()

    def _create_function(self, spec: FunctionSpec) -> None:
        # A role created seconds ago may not be assumable yet (IAM is eventually consistent).
        for attempt in range(10):
            try:
                self.lambda_.create_function(
                    FunctionName=self.function_name(spec),
                    Code={"ZipFile": self.package(spec)},
                    Tags=self.tags,
                    **self.function_settings(spec),
                )
                break
            except ClientError as error:
                message = error.response["Error"].get("Message", "")
                if "cannot be assumed" not in message or attempt == 9:
                    raise
                time.sleep(3)
        # A new function is Pending until Lambda has prepared it: no version before that.
        self.lambda_.get_waiter("function_active_v2").wait(FunctionName=self.function_name(spec))

    def _plan_async_settings(self, spec: FunctionSpec, exists: bool) -> Iterator[Change]:
        """Asynchronous invocation settings, on the function (old triggers call it
        unqualified) and on its alias live (what callers invoke now): Lambda keeps them
        per qualifier."""
        for qualifier in (None, LIVE_ALIAS):
            yield from self._plan_async_settings_of(spec, exists, qualifier)

    def _plan_async_settings_of(
        self, spec: FunctionSpec, exists: bool, qualifier: str | None
    ) -> Iterator[Change]:
        name = self.function_name(spec)
        qualified = {"Qualifier": qualifier} if qualifier else {}
        destination = (
            {"OnFailure": {"Destination": self.queue_arn(spec.on_failure_queue)}}
            if spec.on_failure_queue
            else {}
        )
        current = None
        if exists:
            with contextlib.suppress(self.lambda_.exceptions.ResourceNotFoundException):
                current = self.lambda_.get_function_event_invoke_config(
                    FunctionName=name, **qualified
                )
        current_destination = (current or {}).get("DestinationConfig", {}).get("OnFailure", {})
        age = (
            {"MaximumEventAgeInSeconds": spec.max_event_age_seconds}
            if spec.max_event_age_seconds is not None
            else {}
        )
        if (
            current is None
            or current.get("MaximumRetryAttempts") != spec.max_retry_attempts
            or any(current.get(key) != value for key, value in age.items())
            or current_destination.get("Destination")
            != destination.get("OnFailure", {}).get("Destination")
        ):
            yield Change(
                f"lambda function {name}{':' + qualifier if qualifier else ''} async invocation",
                "set",
                f"{spec.max_retry_attempts} retries"
                + (f", events dropped after {spec.max_event_age_seconds} s" if age else "")
                + (f", then queue {spec.on_failure_queue}" if spec.on_failure_queue else ""),
                run=lambda: self.lambda_.put_function_event_invoke_config(
                    FunctionName=name,
                    MaximumRetryAttempts=spec.max_retry_attempts,
                    DestinationConfig=destination,
                    **age,
                    **qualified,
                ),
            )

    def _plan_reserved_concurrency(self, spec: FunctionSpec, exists: bool) -> Iterator[Change]:
        """The function's reserved concurrency (PutFunctionConcurrency), when the catalog
        declares one: at most that many instances at once, on the function (not a version:
        Lambda keeps it per function). A setting of 0 removes the reservation. A function
        that declares none is left as it is."""
        if spec.reserved_concurrency is None:
            return
        name = self.function_name(spec)
        wanted = reserved_concurrency(spec, self.deployment)
        current = None
        if exists:
            current = self.lambda_.get_function_concurrency(FunctionName=name).get(
                "ReservedConcurrentExecutions"
            )
        if current == wanted:
            return
        resource = f"lambda function {name} reserved concurrency"
        if wanted is None:
            yield Change(
                resource,
                "delete",
                f"{current} -> none ({spec.reserved_concurrency.name} = 0)",
                run=lambda: self.lambda_.delete_function_concurrency(FunctionName=name),
            )
            return
        yield Change(
            resource,
            "set",
            f"{current if current is not None else 'none'} -> {wanted}",
            run=lambda: self.lambda_.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=wanted
            ),
        )

    def _plan_event_source(self, source: EventSourceSpec) -> Iterator[Change]:
        """The queue's mapping to the function's alias live. A mapping an earlier deploy
        made to the unqualified function is moved to the alias (an update: no second
        poller, no gap)."""
        function_name = self.deployment.resource_name(source.function)
        function_arn = self.resource_arn(FunctionArn(source.function))
        live = alias_arn(function_arn)
        queue_arn = self.queue_arn(source.queue)
        settings = {
            "BatchSize": source.batch_size,
            "Enabled": self.options.event_sources_enabled,
            "FunctionResponseTypes": (
                ["ReportBatchItemFailures"] if source.report_batch_item_failures else []
            ),
            "ScalingConfig": {"MaximumConcurrency": source.maximum_concurrency},
        }
        resource = f"event source mapping {source.queue} -> {function_name}:{LIVE_ALIAS}"
        at_alias = self._mappings(EventSourceArn=queue_arn, FunctionName=live)
        elsewhere = [
            mapping
            for mapping in self._mappings(EventSourceArn=queue_arn)
            if mapping["UUID"] not in {m["UUID"] for m in at_alias}
            and _function_of(mapping["FunctionArn"]) == function_arn
        ]
        if not at_alias and not elsewhere:
            yield Change(
                resource,
                "create",
                f"batch {source.batch_size}, max concurrency {source.maximum_concurrency}"
                + ("" if self.options.event_sources_enabled else ", disabled"),
                run=lambda: self.lambda_.create_event_source_mapping(
                    FunctionName=live, EventSourceArn=queue_arn, **settings
                ),
            )
            return
        if not at_alias:
            mapping = elsewhere[0]
            yield Change(
                resource,
                "update",
                f"from {mapping['FunctionArn']} to the alias; batch {source.batch_size}, "
                f"max concurrency {source.maximum_concurrency}",
                run=lambda: self.lambda_.update_event_source_mapping(
                    UUID=mapping["UUID"], FunctionName=live, **settings
                ),
            )
            return
        mapping = at_alias[0]
        enabled = mapping.get("State") in ("Enabled", "Enabling", "Updating")
        if (
            mapping.get("BatchSize") != source.batch_size
            or enabled != self.options.event_sources_enabled
            or mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
            != source.maximum_concurrency
            or sorted(mapping.get("FunctionResponseTypes", [])) != settings["FunctionResponseTypes"]
        ):
            yield Change(
                resource,
                "update",
                f"batch {source.batch_size}, max concurrency {source.maximum_concurrency}",
                run=lambda: self.lambda_.update_event_source_mapping(
                    UUID=mapping["UUID"], **settings
                ),
            )

    def _mappings(self, **query: str) -> list[dict]:
        """The event source mappings ``query`` selects (every page); none when its function
        does not exist. Asked by the alias, Lambda and moto alike answer its mapping (moto
        reports that mapping with the alias's version's ARN, Lambda with the alias's)."""
        try:
            return [
                mapping
                for page in self.lambda_.get_paginator("list_event_source_mappings").paginate(
                    **query
                )
                for mapping in page["EventSourceMappings"]
            ]
        except self.lambda_.exceptions.ResourceNotFoundException:
            return []

    # -- what exists -------------------------------------------------------------------

    def resources(self) -> EventPathResources:
        """Live identifiers of the declared resources (after an apply)."""
        found = EventPathResources()
        found.topic_arns = {t.name: self.topic_arn(t.name) for t in TOPICS}
        for queue in QUEUES:
            found.queue_urls[queue.name] = self.queue_url(queue.name)
            found.queue_arns[queue.name] = self.queue_arn(queue.name)
        for spec in FUNCTIONS:
            configuration = self.lambda_.get_function(FunctionName=self.function_name(spec))[
                "Configuration"
            ]
            found.function_arns[spec.name] = configuration["FunctionArn"]
            found.live_arns[spec.name] = alias_arn(configuration["FunctionArn"])
            found.function_environments[spec.name] = self.environment(spec)
        return found

    # -- destroy -----------------------------------------------------------------------

    def plan_destroy(self) -> list[Change]:
        """Delete what this deployment created: only resources with its tags.

        The SES identity is left alone: SES identities cannot be tagged, so nothing shows
        that this project verified it rather than someone else.
        """
        changes: list[Change] = [
            *self.alarms.plan_destroy(),
            *self.http_api.plan_destroy(),
            *self.schedules.plan_destroy(),
        ]
        for spec in FUNCTIONS:
            name = self.function_name(spec)
            try:
                configuration = self.lambda_.get_function(FunctionName=name)["Configuration"]
            except self.lambda_.exceptions.ResourceNotFoundException:
                continue
            tags = self.lambda_.list_tags(Resource=configuration["FunctionArn"])["Tags"]
            if not self._ours(tags):
                continue
            for mapping in self._function_mappings(configuration["FunctionArn"]):
                changes.append(
                    Change(
                        f"event source mapping {mapping['UUID']}",
                        "delete",
                        run=lambda uuid=mapping["UUID"]: self.lambda_.delete_event_source_mapping(
                            UUID=uuid
                        ),
                    )
                )
            changes.append(
                Change(
                    f"lambda function {name}",
                    "delete",
                    run=lambda name=name: self.lambda_.delete_function(FunctionName=name),
                )
            )
        changes += self.rds_proxy.plan_destroy()  # after the functions that used them
        changes += self.vpc_endpoints.plan_destroy()
        # Layer versions are not tagged: their description names the deployment.
        changes += self.layer.plan_destroy()
        for spec in FUNCTIONS:
            changes += self._destroy_role(spec)
        for queue in QUEUES:
            url = self.queue_url(queue.name)
            if url and self._ours(self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {})):
                changes.append(
                    Change(
                        f"sqs queue {queue.deployed_name(self.deployment)}",
                        "delete",
                        run=lambda url=url, name=queue.name: self._delete_queue(name, url),
                    )
                )
        for topic in TOPICS:
            arn = self.topic_arn(topic.name)
            try:
                tags = self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
            except (
                self.sns.exceptions.NotFoundException,
                self.sns.exceptions.ResourceNotFoundException,
            ):
                continue
            if self._ours(tags):
                changes.append(
                    Change(
                        f"sns topic {arn.rsplit(':', 1)[1]}",
                        "delete",
                        run=lambda arn=arn: self.sns.delete_topic(TopicArn=arn),
                    )
                )
        return changes

    def _function_mappings(self, function_arn: str) -> list[dict]:
        """The event source mappings to the function, whatever their qualifier (an earlier
        deploy mapped the function itself; this one maps its alias)."""
        queries = [
            {"FunctionName": function_arn},
            {"FunctionName": alias_arn(function_arn)},
            *({"EventSourceArn": self.queue_arn(source.queue)} for source in EVENT_SOURCES),
        ]
        found = {}
        for query in queries:
            for mapping in self._mappings(**query):
                if _function_of(mapping["FunctionArn"]) == function_arn:
                    found[mapping["UUID"]] = mapping
        return list(found.values())

    def _delete_queue(self, queue: str, url: str) -> None:
        self.sqs.delete_queue(QueueUrl=url)
        self._queue_urls.pop(queue, None)

    def _destroy_role(self, spec: FunctionSpec) -> list[Change]:
        name = self.role_name(spec)
        try:
            self.iam.get_role(RoleName=name)
        except self.iam.exceptions.NoSuchEntityException:
            return []
        if not self._ours(role_tags(self.iam, name)):
            return []

        def delete_role() -> None:
            for policy in inline_policy_names(self.iam, name):
                self.iam.delete_role_policy(RoleName=name, PolicyName=policy)
            for policy_arn in attached_policy_arns(self.iam, name):
                self.iam.detach_role_policy(RoleName=name, PolicyArn=policy_arn)
            self.iam.delete_role(RoleName=name)

        return [Change(f"iam role {name}", "delete", run=delete_role)]

    def _ours(self, tags) -> bool:
        return is_project_resource(tags, self.deployment.prefix)


# -- pure helpers ------------------------------------------------------------------------


def queue_attributes(queue: QueueSpec, queue_arn) -> dict[str, str]:
    """The SQS attributes that the declaration implies (``queue_arn(name)`` gives ARNs)."""
    attributes = {
        "VisibilityTimeout": str(queue.visibility_timeout_seconds),
        "MessageRetentionPeriod": str(queue.message_retention_seconds),
        "MaximumMessageSize": str(queue.maximum_message_bytes),
    }
    if queue.fifo:
        # Deduplication ids come from the idempotency key, never from the body alone.
        attributes.update(FifoQueue="true", ContentBasedDeduplication="false")
    if queue.dead_letter_queue:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": queue_arn(queue.dead_letter_queue),
                "maxReceiveCount": queue.max_receive_count,
            }
        )
    return attributes


def _comparable(value):
    """Attribute values as SQS returns them may differ in form (JSON text, numbers as text)."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return {key: str(item) for key, item in parsed.items()}
    return value


def _function_of(arn: str) -> str:
    """A function ARN without its qualifier (version or alias), if it has one."""
    head, _, rest = arn.partition(":function:")
    return f"{head}:function:{rest.split(':', 1)[0]}"
