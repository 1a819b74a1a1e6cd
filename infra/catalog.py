"""The one declaration of what the project deploys: functions, topics, queues, identities.

The local runtime, the AWS provisioning and the README's function table are all made
from this module (``aurora-events functions --markdown`` prints that table, and a test
keeps the README in step). Deployed names are ``<prefix>-<name>``; the prefix defaults
to ``aurora-events`` and comes from ``AURORA_EVENTS_PREFIX``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_PREFIX = "aurora-events"
DRAIN_TIMEOUT_SECONDS = 30
RELAY_TIMEOUT_SECONDS = 300
# The alias every caller uses (API, event source mapping, schedules, Aurora's triggers):
# a deploy publishes a version and moves it; a rollback moves it back.
LIVE_ALIAS = "live"
# The functions outbox triggers deliver to, through the relay (its invoke permission).
OUTBOX_TARGETS = ("notify", "email")


# -- references resolved when the resources exist ----------------------------------------


@dataclass(frozen=True)
class TopicArn:
    """The ARN of a declared topic."""

    topic: str


@dataclass(frozen=True)
class QueueUrl:
    """The URL of a declared queue."""

    queue: str


@dataclass(frozen=True)
class Setting:
    """A deployment setting (see :class:`Deployment`), by attribute name."""

    name: str


@dataclass(frozen=True)
class QueueArn:
    """The ARN of a declared queue (for permissions)."""

    queue: str


@dataclass(frozen=True)
class DatabaseSecretArn:
    """The ARN of a database secret of the deployment (for permissions), by setting."""

    setting: str = "database_secret_id"


@dataclass(frozen=True)
class EmailIdentityArn:
    """The ARN of the deployment's SES sending identity (for permissions)."""


@dataclass(frozen=True)
class FunctionArn:
    """The ARN of a declared function (for permissions: the relay invokes its targets)."""

    function: str


EnvironmentValue = str | TopicArn | QueueUrl | Setting
PermissionResource = TopicArn | QueueArn | DatabaseSecretArn | EmailIdentityArn | FunctionArn


@dataclass(frozen=True)
class Permission:
    """What a function's execution role may do, on exactly one declared resource."""

    actions: tuple[str, ...]
    resource: PermissionResource


# -- declarations ------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function: what runs, how long it may take, what calls it, where failures go."""

    name: str
    handler: str
    description: str
    invoked_by: str
    timeout_seconds: int = 30
    memory_mb: int = 256
    environment: Mapping[str, EnvironmentValue] = field(default_factory=dict)
    # Lambda's asynchronous invocation: retries after the first attempt (0..2), and the
    # queue that receives a record once they are exhausted.
    max_retry_attempts: int = 2
    on_failure_queue: str | None = "lambda-failures"
    # Least privilege: besides these, a role may only write its own logs and, when it has
    # an on-failure queue, send to it (both added by the provisioning).
    permissions: tuple[Permission, ...] = ()
    # Runs inside the VPC (the database's), when the deployment names subnets.
    in_vpc: bool = False
    # Called by Aurora (lambda_async from triggers): its ARN goes into the policy of the
    # role Aurora uses, and nothing else's does.
    invoked_by_aurora: bool = False


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str


@dataclass(frozen=True)
class QueueSpec:
    name: str
    description: str
    fifo: bool = False
    visibility_timeout_seconds: int = 30
    message_retention_seconds: int = 1_209_600  # 14 days, SQS's maximum
    maximum_message_bytes: int = 262_144
    dead_letter_queue: str | None = None
    max_receive_count: int | None = None

    def deployed_name(self, deployment: Deployment) -> str:
        """FIFO queue names must end in ``.fifo``."""
        return deployment.resource_name(self.name) + (".fifo" if self.fifo else "")


@dataclass(frozen=True)
class EventSourceSpec:
    """An SQS event source mapping: which queue feeds which function, and how."""

    function: str
    queue: str
    batch_size: int
    maximum_concurrency: int
    report_batch_item_failures: bool = True


@dataclass(frozen=True)
class ScheduleSpec:
    """A function run on a schedule: an EventBridge rule ``<prefix>-<name>`` targeting it."""

    name: str
    function: str
    rate: str  # an EventBridge schedule expression, e.g. "rate(1 minute)"
    description: str


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="notify",
        handler="functions.notify.handler.handler",
        description="Publishes a row event to the notifications SNS topic.",
        invoked_by="Aurora `lambda_async` from row-event triggers",
        timeout_seconds=30,
        environment={"TOPIC_ARN": TopicArn("notifications")},
        permissions=(Permission(("sns:Publish",), TopicArn("notifications")),),
        invoked_by_aurora=True,
    ),
    FunctionSpec(
        name="ingest",
        handler="functions.ingest.handler.handler",
        description="Validates an API request and queues it on the ingest FIFO queue.",
        invoked_by="API Gateway: `POST /customers`, `POST /orders` (REST or HTTP API)",
        timeout_seconds=10,
        environment={"QUEUE_URL": QueueUrl("ingest")},
        max_retry_attempts=0,
        on_failure_queue=None,
        permissions=(Permission(("sqs:SendMessage",), QueueArn("ingest")),),
    ),
    FunctionSpec(
        name="drain",
        handler="functions.drain.handler.handler",
        description="Writes queued requests to the database, idempotently, in batches.",
        invoked_by="SQS event source mapping on queue `ingest` (FIFO)",
        timeout_seconds=DRAIN_TIMEOUT_SECONDS,
        environment={
            "DATABASE_SECRET_ID": Setting("database_secret_id"),
            "DATABASE_HOST": Setting("database_host"),
        },
        max_retry_attempts=0,
        on_failure_queue=None,
        permissions=(
            Permission(
                (
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ),
                QueueArn("ingest"),
            ),
            Permission(("secretsmanager:GetSecretValue",), DatabaseSecretArn()),
        ),
        in_vpc=True,
    ),
    FunctionSpec(
        name="email",
        handler="functions.email.handler.handler",
        description="Sends a row event as an email through SES from a verified identity.",
        invoked_by="Aurora `lambda_async` from row-event triggers",
        timeout_seconds=30,
        environment={"EMAIL_FROM": Setting("email_from"), "EMAIL_TO": Setting("email_to")},
        permissions=(Permission(("ses:SendEmail", "ses:SendRawEmail"), EmailIdentityArn()),),
        invoked_by_aurora=True,
    ),
    FunctionSpec(
        name="relay",
        handler="functions.relay.handler.handler",
        description="Delivers the outbox's due events to their target functions, in batches.",
        invoked_by="the outbox trigger's doorbell (Aurora `lambda_async`) and a schedule",
        timeout_seconds=RELAY_TIMEOUT_SECONDS,
        environment={
            "DATABASE_SECRET_ID": Setting("relay_database_secret_id"),
            "DATABASE_HOST": Setting("database_host"),
        },
        # A lost doorbell costs nothing: the schedule finds the events. No retries.
        max_retry_attempts=0,
        on_failure_queue=None,
        permissions=(
            *(Permission(("lambda:InvokeFunction",), FunctionArn(t)) for t in OUTBOX_TARGETS),
            Permission(
                ("secretsmanager:GetSecretValue",), DatabaseSecretArn("relay_database_secret_id")
            ),
        ),
        in_vpc=True,
        invoked_by_aurora=True,  # the doorbell
    ),
)

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("notifications", "Row events published by the notify function."),
    TopicSpec("operators", "CloudWatch alarms for the people who run it (email: alarm_email)."),
)

QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(
        "lambda-failures",
        "Lambda on-failure destination: asynchronous invocations whose retries ran out.",
    ),
    QueueSpec(
        "ingest",
        "Writes accepted by the API, waiting for the database (one message group per customer).",
        fifo=True,
        # Lambda's advice: at least 6x the function timeout, so a batch being retried by
        # the event source is not handed to a second drain meanwhile.
        visibility_timeout_seconds=6 * DRAIN_TIMEOUT_SECONDS,
        dead_letter_queue="ingest-dlq",
        # 10 receives x 180 s: a database outage of about 30 minutes before messages move
        # to the DLQ (where they wait 14 days for `aurora-events replay`); a poison message
        # holds up only its own customer for that long.
        max_receive_count=10,
    ),
    QueueSpec(
        "ingest-dlq",
        "Messages the drain could not write after max_receive_count tries.",
        fifo=True,  # the DLQ of a FIFO queue must be FIFO
    ),
)

SCHEDULES: tuple[ScheduleSpec, ...] = (
    # The backstop: the doorbell is best effort (a lost ring, a transaction that committed
    # after the relay stopped looking), so every minute the relay looks for due events.
    ScheduleSpec(
        name="relay-schedule",
        function="relay",
        rate="rate(1 minute)",
        description="Runs the outbox relay every minute (the doorbell's backstop).",
    ),
)

EVENT_SOURCES: tuple[EventSourceSpec, ...] = (
    # FIFO: at most 10 a batch. Maximum concurrency caps the drain's database connections
    # (one per concurrent drain) whatever the number of active customers.
    EventSourceSpec(function="drain", queue="ingest", batch_size=10, maximum_concurrency=5),
)


# -- deployment --------------------------------------------------------------------------


# Each deployment setting and the environment variables that give it (the first one set
# wins); the config file uses the same keys (:mod:`infra.aws.settings`).
DEPLOYMENT_VARIABLES: dict[str, tuple[str, ...]] = {
    "prefix": ("AURORA_EVENTS_PREFIX",),
    "cluster": ("AURORA_EVENTS_CLUSTER",),
    "email_from": ("AURORA_EVENTS_EMAIL_FROM",),
    "email_to": ("AURORA_EVENTS_EMAIL_TO",),
    "database_secret_id": ("AURORA_EVENTS_DATABASE_SECRET_ID",),
    "relay_database_secret_id": ("AURORA_EVENTS_RELAY_DATABASE_SECRET_ID",),
    "database_host": ("AURORA_EVENTS_DATABASE_HOST",),
    "subnet_ids": ("AURORA_EVENTS_SUBNET_IDS",),
    "security_group_ids": ("AURORA_EVENTS_SECURITY_GROUP_IDS",),
    "api_stage": ("AURORA_EVENTS_API_STAGE",),
    "api_burst_limit": ("AURORA_EVENTS_API_BURST_LIMIT",),
    "api_rate_limit": ("AURORA_EVENTS_API_RATE_LIMIT",),
    "api_cors_origins": ("AURORA_EVENTS_API_CORS_ORIGINS",),
    "rds_proxy": ("AURORA_EVENTS_RDS_PROXY",),
    "vpc_endpoints": ("AURORA_EVENTS_VPC_ENDPOINTS",),
    "alarm_email": ("AURORA_EVENTS_ALARM_EMAIL",),
    "powertools_layer_arn": ("AURORA_EVENTS_POWERTOOLS_LAYER_ARN",),
}


class SettingError(ValueError):
    """A deployment setting's text cannot be read as its type; the message names it."""


@dataclass(frozen=True)
class Deployment:
    """Settings that differ between deployments (local stack, staging, production)."""

    prefix: str = DEFAULT_PREFIX
    email_from: str = "notifications@example.com"
    email_to: str = "team@example.com"
    # The drain's database: a Secrets Manager secret (RDS format), and optionally a host
    # that overrides the secret's, e.g. an RDS Proxy endpoint.
    database_secret_id: str = ""
    # The outbox relay's database account (it may only work the outbox table).
    relay_database_secret_id: str = ""
    database_host: str = ""
    cluster: str = ""  # the Aurora DB cluster identifier (Aurora access, doctor)
    # The VPC the in-VPC functions (the drain) run in: the database's subnets and a
    # security group the database accepts. Empty: no VPC (the database is public).
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    # The HTTP API in front of ingest: its stage (the first segment of the invoke URL's
    # path), the stage's throttling (requests per second, and the burst above it), and the
    # origins a browser may call it from (CORS; none: no CORS headers).
    api_stage: str = "prod"
    api_burst_limit: int = 100
    api_rate_limit: int = 50
    api_cors_origins: tuple[str, ...] = ()
    # An RDS Proxy in front of the cluster for the drain (many concurrent drains, failover).
    rds_proxy: bool = False
    # Interface VPC endpoints for Secrets Manager and Lambda (subnets without a NAT route).
    vpc_endpoints: bool = False
    # Who the operators topic emails when an alarm fires (empty: no subscription).
    alarm_email: str = ""
    # AWS's public Powertools layer to use instead of shipping Powertools in the project's
    # own layer (empty: the project's layer holds both PyMySQL and Powertools).
    powertools_layer_arn: str = ""

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> Deployment:
        """From ``{setting: text}`` (lists comma-separated, booleans true/false/yes/no/1/0,
        whole numbers); empty or missing: the default. A text that is not of the setting's
        type is a :class:`SettingError` naming the setting."""
        defaults = cls()
        given = {}
        for key, text in values.items():
            if key in DEPLOYMENT_VARIABLES and text:
                given[key] = _typed_setting(key, text, getattr(defaults, key))
        return cls(**given)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Deployment:
        """From the environment variables of :data:`DEPLOYMENT_VARIABLES`."""
        environ = os.environ if environ is None else environ
        return cls.from_values(variable_values(DEPLOYMENT_VARIABLES, environ))

    def resource_name(self, name: str) -> str:
        """The deployed name of a declared function, topic or queue."""
        return f"{self.prefix}-{name}"


def variable_values(
    variables: Mapping[str, tuple[str, ...]], environ: Mapping[str, str]
) -> dict[str, str]:
    """``{setting: text}`` for each setting one of whose variables is set (and not empty)."""
    found = {}
    for key, names in variables.items():
        text = next((environ[name] for name in names if environ.get(name)), None)
        if text is not None:
            found[key] = text
    return found


def _list_setting(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _typed_setting(key: str, text: str, default):
    """``text`` as the type of the setting's default (``bool`` before ``int``: a bool is one)."""
    if isinstance(default, tuple):
        return _list_setting(text)
    if isinstance(default, bool):
        try:
            return _BOOLEANS[text.strip().lower()]
        except KeyError:
            raise SettingError(f"setting {key} must be true or false, not {text!r}") from None
    if isinstance(default, int):
        if not text.strip().isascii() or not text.strip().isdigit():
            raise SettingError(f"setting {key} must be a whole number, not {text!r}")
        return int(text.strip())
    return text


def function_spec(name: str) -> FunctionSpec:
    """The declared function called ``name``; a clear error for any other name."""
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in FUNCTIONS)
    raise KeyError(f"no function {name!r} in the catalog (known: {known})")


def queue_spec(name: str) -> QueueSpec:
    return next(spec for spec in QUEUES if spec.name == name)


def resolve_environment(
    spec: FunctionSpec,
    deployment: Deployment,
    topic_arns: Mapping[str, str],
    queue_urls: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The function's environment with every reference replaced by its value.

    A setting that is empty is left out (the function then uses its own default).
    """
    resolved = {}
    for key, value in spec.environment.items():
        if isinstance(value, TopicArn):
            resolved[key] = topic_arns[value.topic]
        elif isinstance(value, QueueUrl):
            resolved[key] = (queue_urls or {})[value.queue]
        elif isinstance(value, Setting):
            if getattr(deployment, value.name):
                resolved[key] = getattr(deployment, value.name)
        else:
            resolved[key] = value
    return resolved


def functions_markdown() -> str:
    """The README's table of functions."""
    lines = [
        "| function | handler | invoked by | timeout | memory | retries, then |",
        "|---|---|---|---|---|---|",
    ]
    for spec in FUNCTIONS:
        failure = (
            f"{spec.max_retry_attempts}, then queue `{spec.on_failure_queue}`"
            if spec.on_failure_queue
            else "none (synchronous or queue-driven)"
        )
        lines.append(
            f"| `{spec.name}` | `{spec.handler}` | {spec.invoked_by} | {spec.timeout_seconds} s "
            f"| {spec.memory_mb} MB | {failure} |"
        )
    return "\n".join(lines)
