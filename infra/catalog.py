"""The one declaration of what the project deploys: functions, topics, queues, alarms.

The local runtime, the AWS provisioning and the README's function table are all made
from this module (``aurora-events functions --markdown`` prints that table, and a test
keeps the README in step). Deployed names are ``<prefix>-<name>``; the prefix defaults
to ``aurora-events`` and comes from ``AURORA_EVENTS_PREFIX``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from functions.common import metric_names
from functions.common.event_batches import BATCH_RESERVE_SECONDS
from functions.drain import metrics as drain_metrics
from functions.relay import metrics as relay_metrics
from functions.relay import target_limits
from functions.relay.delivery import RelaySettings, backoff_seconds
from functions.relay.target_limits import BatchLimits

DEFAULT_PREFIX = metric_names.DEFAULT_PREFIX  # the one declaration is there
DRAIN_TIMEOUT_SECONDS = 30
RELAY_TIMEOUT_SECONDS = 300
# The alias every caller uses (API, event source mapping, schedules, Aurora's triggers):
# a deploy publishes a version and moves it; a rollback moves it back.
LIVE_ALIAS = "live"
# The functions outbox triggers deliver to, through the relay (its invoke permission);
# each declares its batch limits (FunctionSpec.batch_limits).
OUTBOX_TARGETS = ("notify", "email")
# What a target may spend on a batch: its timeout less the reserve it keeps for one more
# call of its client (two attempts of 2 s connect + 4 s read, 1 s between) and its answer
# (functions/common/event_batches.py): 30 - 14 = 16 s.
TARGET_TIMEOUT_SECONDS = 30
BATCH_SECONDS = TARGET_TIMEOUT_SECONDS - BATCH_RESERVE_SECONDS
# SES's default sending rate once out of the sandbox (the account's quota may be higher;
# in the sandbox it is 1 a second): what bounds email, whose SendEmail calls take tens
# of milliseconds but may not go out faster than this.
SES_DEFAULT_SENDS_PER_SECOND = 14
# Lambda's synchronous request is at most 6 MB; the relay's batch wraps the events.
BATCH_BYTES = 5_000_000


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


@dataclass(frozen=True)
class OutboxTargetLimits:
    """The batch limits of every outbox target, as the relay reads them
    (:mod:`functions.relay.target_limits`)."""


EnvironmentValue = str | TopicArn | QueueUrl | Setting | OutboxTargetLimits
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
    # How long Lambda keeps an asynchronous event it could not run yet (throttled by the
    # reserved concurrency, say) before dropping it; None: Lambda's default, 6 hours.
    max_event_age_seconds: int | None = None
    # Least privilege: besides these, a role may only write its own logs and, when it has
    # an on-failure queue, send to it (both added by the provisioning).
    permissions: tuple[Permission, ...] = ()
    # Runs inside the VPC (the database's), when the deployment names subnets.
    in_vpc: bool = False
    # Called by Aurora (lambda_async from triggers): its ARN goes into the policy of the
    # role Aurora uses, and nothing else's does.
    invoked_by_aurora: bool = False
    # At most this many instances at once: the deployment setting it names (an int;
    # 0: no limit), Lambda's reserved concurrency on AWS and the container pool locally
    # (see reserved_concurrency()). None: not managed.
    reserved_concurrency: Setting | None = None
    # An outbox target: the most events and bytes one relay invocation carries, and why
    # (the README's table of batch limits).
    batch_limits: BatchLimits | None = None
    batch_limits_why: str = ""


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
        timeout_seconds=TARGET_TIMEOUT_SECONDS,
        environment={"TOPIC_ARN": TopicArn("notifications")},
        permissions=(Permission(("sns:Publish",), TopicArn("notifications")),),
        invoked_by_aurora=True,
        # 1,000 events are 100 PublishBatch calls (10 entries, 256 KiB a call): about 5 s
        # at 50 ms a call, so a third of the 16 s budget; the deadline stops a batch whose
        # calls are slower than 160 ms. 5 MB: 20 calls of 256 KiB.
        batch_limits=BatchLimits(events=1000, bytes=BATCH_BYTES),
        batch_limits_why=f"SNS `PublishBatch`: 10 entries and 256 KiB a call, tens of ms "
        f"each: 100 calls, ~5 s at 50 ms a call, a third of the {BATCH_SECONDS} s a batch "
        "may take",
    ),
    FunctionSpec(
        name="ingest",
        handler="functions.ingest.handler.handler",
        description="Validates an API request and queues it on the ingest FIFO queue.",
        invoked_by="API Gateway: `POST /customers`, `POST /orders` (REST or HTTP API)",
        timeout_seconds=10,
        # API_AUTH: which authorizer's principal the function reads (iam, jwt, none).
        environment={"QUEUE_URL": QueueUrl("ingest"), "API_AUTH": Setting("api_auth")},
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
            "DATABASE_TLS": Setting("database_tls"),
            "DATABASE_TLS_CA": Setting("database_tls_ca"),
            # The dimension of its conflicts metric (the alarm on conflicts matches it).
            drain_metrics.PREFIX_VARIABLE: Setting("prefix"),
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
        timeout_seconds=TARGET_TIMEOUT_SECONDS,
        environment={"EMAIL_FROM": Setting("email_from"), "EMAIL_TO": Setting("email_to")},
        permissions=(Permission(("ses:SendEmail", "ses:SendRawEmail"), EmailIdentityArn()),),
        invoked_by_aurora=True,
        # One SendEmail per event, tens of ms each (20 a second at 50 ms), but SES sends at
        # most 14 a second by default: 16 s x 14/s = 224, so 200 (about 14 s at that rate,
        # 10 s at 50 ms a call). Slower calls or a lower quota: the deadline stops the
        # batch and the rest goes out in the next invocation. Bytes: Lambda's limit only.
        batch_limits=BatchLimits(events=200, bytes=BATCH_BYTES),
        batch_limits_why=f"SES: one `SendEmail` per event, tens of ms each, and at most "
        f"{SES_DEFAULT_SENDS_PER_SECOND} a second by default: {BATCH_SECONDS} s x "
        f"{SES_DEFAULT_SENDS_PER_SECOND}/s = {BATCH_SECONDS * SES_DEFAULT_SENDS_PER_SECOND}, "
        "so 200",
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
            "DATABASE_TLS": Setting("database_tls"),
            "DATABASE_TLS_CA": Setting("database_tls_ca"),
            # The dimension of its metrics (the alarm on parked events matches it), and the
            # prefix that names its targets' functions.
            relay_metrics.PREFIX_VARIABLE: Setting("prefix"),
            target_limits.VARIABLE: OutboxTargetLimits(),
        },
        # A lost doorbell costs nothing: the schedule finds the events. No retries, and a
        # doorbell throttled by the reserved concurrency is dropped after a minute (Lambda's
        # shortest; the schedule runs every minute) rather than run hours later.
        max_retry_attempts=0,
        max_event_age_seconds=60,
        on_failure_queue=None,
        permissions=(
            *(Permission(("lambda:InvokeFunction",), FunctionArn(t)) for t in OUTBOX_TARGETS),
            Permission(
                ("secretsmanager:GetSecretValue",), DatabaseSecretArn("relay_database_secret_id")
            ),
        ),
        in_vpc=True,
        invoked_by_aurora=True,  # the doorbell
        # Each run holds a database connection and lingers after a doorbell: a bounded
        # number of relays, whatever the number of doorbells, schedules and retries.
        reserved_concurrency=Setting("relay_reserved_concurrency"),
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


# -- alarms ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueName:
    """The deployed name of a declared queue (the ``QueueName`` of its SQS metrics)."""

    queue: str


@dataclass(frozen=True)
class FunctionName:
    """The deployed name of a declared function (the ``FunctionName`` of its metrics)."""

    function: str


DimensionValue = str | QueueName | FunctionName | Setting


@dataclass(frozen=True)
class MetricSpec:
    """A CloudWatch metric, its dimensions (resolved to deployed names) and the statistic
    an alarm takes of it over each period."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, DimensionValue], ...]
    statistic: str = "Maximum"
    period_seconds: int = 300


@dataclass(frozen=True)
class AlarmSpec:
    """A CloudWatch alarm ``<prefix>-<name>``; it notifies the ``operators`` topic when it
    fires and when it is OK again."""

    name: str
    what: str  # what has happened when it fires
    metric: MetricSpec
    threshold: float
    why: str  # why that threshold, why it pages someone
    response: str  # what to do when it fires
    comparison: str = "GreaterThanThreshold"
    evaluation_periods: int = 1
    # No data is no message, no error: nothing is wrong (CloudWatch: notBreaching).
    treat_missing_data: str = "notBreaching"
    threshold_unit: str = ""  # how the README writes the threshold ("s"); not sent to AWS


ALARM_TOPIC = "operators"
# The runbooks page in the source (and the docs site): one section per alarm, headed by
# the alarm's name, so its anchor is the name (MkDocs and GitHub alike).
RUNBOOKS_PATH = "docs/runbooks.md"


def halfway_to_dead_letters(queue: QueueSpec) -> int:
    """Seconds a message waits before it is half way to the DLQ: half its receives, each
    after a visibility timeout (a message the drain keeps failing is received again only
    when the timeout ends)."""
    return queue.visibility_timeout_seconds * (queue.max_receive_count or 1) // 2


def function_errors(function: str) -> MetricSpec:
    """Lambda's ``Errors`` of a declared function, summed over each period.

    The function, not its alias: Lambda counts every invocation under FunctionName,
    whichever version or alias ran, so the alarm holds before, during and after an alias
    move or a rollback (FunctionName + Resource counts only the alias's calls)."""
    return MetricSpec(
        "AWS/Lambda", "Errors", (("FunctionName", FunctionName(function)),), statistic="Sum"
    )


def _queue(name: str) -> QueueSpec:
    return next(spec for spec in QUEUES if spec.name == name)


_INGEST = _queue("ingest")
# How long the ingest queue retries a message before the DLQ (receives x visibility).
_INGEST_RETRY_MINUTES = _INGEST.visibility_timeout_seconds * (_INGEST.max_receive_count or 1) // 60


# How often the relay runs without a doorbell (the relay-schedule's rate).
RELAY_SCHEDULE_SECONDS = 60


def relay_give_up_seconds(
    settings: RelaySettings, schedule_seconds: float = RELAY_SCHEDULE_SECONDS
) -> float:
    """The longest a working relay keeps an event waiting: until it parks an event whose
    target keeps failing. Every attempt may wait for the next scheduled run and then for
    the whole call (connecting and the answer); each but the last is followed by its
    backoff."""
    attempts = settings.max_attempts
    backoffs = sum(backoff_seconds(n, settings) for n in range(1, attempts))
    return attempts * (schedule_seconds + settings.longest_call_seconds) + backoffs


# What the relay-stopped alarm tolerates: the longest a working relay keeps an event
# waiting (relay_give_up_seconds), rounded up to whole alarm periods.
_RELAY_GIVE_UP_SECONDS = relay_give_up_seconds(RelaySettings())
_OLDEST_PENDING_THRESHOLD = math.ceil(_RELAY_GIVE_UP_SECONDS / 300) * 300


ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        name="ingest-dlq-messages",
        what="messages in the ingest DLQ: writes the drain gave up on",
        metric=MetricSpec(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            (("QueueName", QueueName("ingest-dlq")),),
        ),
        threshold=0,
        why="each one is an accepted request not in the database: a poison message, or an "
        "outage longer than the ingest queue's retries",
        response="fix the cause (the drain's log), then `aurora-events replay` (a write that "
        "happened already is a no-op)",
    ),
    AlarmSpec(
        name="lambda-failures-messages",
        what="records on the `lambda-failures` queue: asynchronous invocations (notify, "
        "email) whose retries ran out",
        metric=MetricSpec(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            (("QueueName", QueueName("lambda-failures")),),
        ),
        threshold=0,
        why="each one is a row event that reached nobody; nothing retries it",
        response="read the records (`requestPayload` is the event, `responsePayload` the "
        "error), fix the cause, invoke the function with the payload again, delete the record",
    ),
    AlarmSpec(
        name="drain-errors",
        what="the drain raised: the database is unavailable or misconfigured",
        metric=function_errors("drain"),
        threshold=0,
        why="the drain raises only when no write can succeed (bad data is reported per "
        "message, never raised): the writes wait in the queue and reach the DLQ after "
        f"about {_INGEST_RETRY_MINUTES} minutes",
        response="`aurora-events queues`; the drain's log; `aurora-events doctor`; for "
        "planned maintenance, disable the event source mapping instead",
    ),
    AlarmSpec(
        name="ingest-oldest-message",
        what="the oldest message in the ingest queue has waited too long: the drain is "
        "not keeping up",
        metric=MetricSpec(
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            (("QueueName", QueueName("ingest")),),
        ),
        threshold=halfway_to_dead_letters(_INGEST),
        threshold_unit="s",
        why=f"half of the visibility timeout ({_INGEST.visibility_timeout_seconds} s) x "
        f"maxReceiveCount ({_INGEST.max_receive_count}): the oldest message has been retried "
        "about half its receives, or waited as long behind a backlog; about as long again "
        "remains before messages move to the DLQ",
        response="as for drain errors; if the drain is healthy, the event source mapping's "
        "maximum concurrency may be too low for the load",
    ),
    AlarmSpec(
        name="relay-errors",
        what="the relay raised: it cannot reach the outbox (database down, its secret or "
        "grant wrong) or failed itself",
        metric=function_errors("relay"),
        threshold=0,
        why="a target's failure is retried and parked by the relay, never raised: a raise "
        "means no event is delivered at all, and a relay that cannot reach the database "
        "reports no outbox metrics, so the parked alarm cannot see it",
        response="the relay's log; `aurora-events doctor` (the relay's secret, grant and "
        "network); events wait in the outbox and go out on the next run after the fix",
    ),
    AlarmSpec(
        name="outbox-parked",
        what="parked outbox events: the relay stopped trying them",
        metric=MetricSpec(
            relay_metrics.NAMESPACE,
            relay_metrics.PARKED_EVENTS,
            ((relay_metrics.SERVICE_DIMENSION, Setting("prefix")),),
        ),
        threshold=0,
        why="a parked event reached none of its targets (refused, or failed 8 times) and "
        "waits for a person",
        response="`aurora-events outbox` (it lists the parked events' most common errors), fix the "
        "target, then `aurora-events outbox replay --since <time> --parked`",
        # No data: the relay did not report (it runs every minute): shown as INSUFFICIENT_DATA.
        treat_missing_data="missing",
    ),
    AlarmSpec(
        name="relay-stopped",
        what="the oldest outbox event has waited too long, or the relay has not reported it: "
        "the relay stopped running (its schedule, its function, its database) or cannot keep up",
        metric=MetricSpec(
            metric_names.NAMESPACE,
            metric_names.OLDEST_PENDING_AGE,
            ((metric_names.SERVICE_DIMENSION, Setting("prefix")),),
        ),
        threshold=_OLDEST_PENDING_THRESHOLD,
        threshold_unit="s",
        why="the relay reports the oldest waiting event's age every run (0 when none waits); "
        f"a working relay keeps an event at most about {math.ceil(_RELAY_GIVE_UP_SECONDS / 60)} "
        "minutes (its retries until it parks it), so older means no run delivers; and a "
        "period without a report counts as breaching, so a relay that never runs (a disabled "
        "schedule, a deleted function, a run that fails before reporting) alarms too",
        response="`aurora-events outbox` (how many wait, how old); the relay's log and "
        "errors; `aurora-events doctor`; the schedule `<prefix>-relay-schedule` enabled; "
        "events wait in the outbox and go out on the first run that works",
        # No data is a relay that did not run or did not get as far as reporting.
        treat_missing_data="breaching",
    ),
    AlarmSpec(
        name="idempotency-conflicts",
        what="the drain refused a request whose idempotency key holds another body: an "
        "accepted (202) request that is not stored",
        metric=MetricSpec(
            drain_metrics.NAMESPACE,
            drain_metrics.IDEMPOTENCY_CONFLICTS,
            ((drain_metrics.SERVICE_DIMENSION, Setting("prefix")),),
            statistic="Sum",
        ),
        threshold=0,
        why="each one is a client's request that was answered 202 and not stored: a client "
        "reusing a key for another request (a bug in the client), or two callers sharing keys",
        response="`aurora-events conflicts` (each names both body hashes and the message; "
        "the refused values are in `ingest_conflicts.data`), tell the client, resend under a "
        "new key if the request was meant",
        # Published only when there is a conflict: no data is no conflict.
    ),
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
    "database_tls": ("AURORA_EVENTS_DATABASE_TLS",),
    "database_tls_ca": ("AURORA_EVENTS_DATABASE_TLS_CA",),
    "subnet_ids": ("AURORA_EVENTS_SUBNET_IDS",),
    "security_group_ids": ("AURORA_EVENTS_SECURITY_GROUP_IDS",),
    "api_stage": ("AURORA_EVENTS_API_STAGE",),
    "api_burst_limit": ("AURORA_EVENTS_API_BURST_LIMIT",),
    "api_rate_limit": ("AURORA_EVENTS_API_RATE_LIMIT",),
    "api_cors_origins": ("AURORA_EVENTS_API_CORS_ORIGINS",),
    "api_auth": ("AURORA_EVENTS_API_AUTH",),
    "api_jwt_issuer": ("AURORA_EVENTS_API_JWT_ISSUER",),
    "api_jwt_audience": ("AURORA_EVENTS_API_JWT_AUDIENCE",),
    "rds_proxy": ("AURORA_EVENTS_RDS_PROXY",),
    "vpc_endpoints": ("AURORA_EVENTS_VPC_ENDPOINTS",),
    "alarm_email": ("AURORA_EVENTS_ALARM_EMAIL",),
    "runbook_url": ("AURORA_EVENTS_RUNBOOK_URL",),
    "powertools_layer_arn": ("AURORA_EVENTS_POWERTOOLS_LAYER_ARN",),
    "relay_reserved_concurrency": ("AURORA_EVENTS_RELAY_RESERVED_CONCURRENCY",),
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
    # TLS required for the drain's and the relay's connections (DATABASE_TLS), the server
    # checked against the CA bundle at this path inside the function (DATABASE_TLS_CA; on
    # AWS the RDS global bundle, shipped in a layer) or else the system's CAs.
    database_tls: bool = False
    database_tls_ca: str = ""
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
    # Who may call the API: iam (SigV4-signed requests, AWS_IAM routes; the caller's ARN is
    # the principal), jwt (a JWT authorizer of api_jwt_issuer for api_jwt_audience; the
    # token's sub is the principal) or none (anyone: only when set on purpose).
    api_auth: str = "iam"
    api_jwt_issuer: str = ""
    api_jwt_audience: tuple[str, ...] = ()
    # An RDS Proxy in front of the cluster for the drain (many concurrent drains, failover).
    rds_proxy: bool = False
    # Interface VPC endpoints for Secrets Manager and Lambda (subnets without a NAT route).
    vpc_endpoints: bool = False
    # Who the operators topic emails when an alarm fires (empty: no subscription).
    alarm_email: str = ""
    # Where the runbooks page is published (e.g. https://docs.shop.example/runbooks/): each
    # alarm's description links to its section there. Empty: the page's path in the
    # source, RUNBOOKS_PATH.
    runbook_url: str = ""
    # AWS's public Powertools layer to use instead of shipping Powertools in the project's
    # own layer (empty: the project's layer holds both PyMySQL and Powertools).
    powertools_layer_arn: str = ""
    # How many outbox relays may run at once (Lambda's reserved concurrency; the local
    # runtime's containers). Two: one delivering while another starts on a doorbell. 0:
    # no reservation, for accounts whose concurrency quota leaves none to reserve.
    relay_reserved_concurrency: int = 2

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


def reserved_concurrency(spec: FunctionSpec, deployment: Deployment) -> int | None:
    """How many instances of the function may run at once in ``deployment``; None when
    it declares no limit or its setting is 0 (no reservation)."""
    if spec.reserved_concurrency is None:
        return None
    return getattr(deployment, spec.reserved_concurrency.name) or None


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
            setting = getattr(deployment, value.name)
            if setting:  # True as the text the functions read (they take true/false)
                resolved[key] = "true" if setting is True else setting
        elif isinstance(value, OutboxTargetLimits):
            resolved[key] = target_limits.encode_limits(outbox_target_limits())
        else:
            resolved[key] = value
    return resolved


def outbox_target_limits() -> dict[str, BatchLimits]:
    """``{target: its batch limits}`` for each outbox target."""
    limits = {name: function_spec(name).batch_limits for name in OUTBOX_TARGETS}
    undeclared = sorted(name for name, declared in limits.items() if declared is None)
    if undeclared:
        raise ValueError(f"outbox targets without batch_limits in the catalog: {undeclared}")
    return limits


def target_limits_markdown() -> str:
    """The README's table of the outbox targets' batch limits."""
    lines = ["| target | events an invocation | bytes an invocation | why |", "|---|---|---|---|"]
    for name, limits in outbox_target_limits().items():
        why = function_spec(name).batch_limits_why
        lines.append(f"| `{name}` | {limits.events:,} | {limits.bytes:,} | {why} |")
    return "\n".join(lines)


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


def dimension_value(value: DimensionValue, deployment: Deployment) -> str:
    """A metric dimension's value for ``deployment``: deployed names, settings, text."""
    if isinstance(value, QueueName):
        return queue_spec(value.queue).deployed_name(deployment)
    if isinstance(value, FunctionName):
        return deployment.resource_name(function_spec(value.function).name)
    if isinstance(value, Setting):
        return str(getattr(deployment, value.name))
    return value


def runbook_link(spec: AlarmSpec, deployment: Deployment) -> str:
    """The address of the alarm's runbook section: ``runbook_url`` (or the page's path in
    the source) and the alarm's name as the anchor."""
    return f"{deployment.runbook_url or RUNBOOKS_PATH}#{spec.name}"


def alarm_description(spec: AlarmSpec, deployment: Deployment) -> str:
    """The alarm's ``AlarmDescription``: what it means, its runbook, what to do (a line
    each); cut to CloudWatch's 1,024 characters (only a very long ``runbook_url`` needs it,
    and it cuts the end, never the link)."""
    return (
        f"Fires on {spec.what}.\nRunbook: {runbook_link(spec, deployment)}\n"
        f"When it fires: {spec.response}"
    )[:1024]


def alarm_dimensions(spec: AlarmSpec, deployment: Deployment) -> dict[str, str]:
    """``{dimension: value}`` of the alarm's metric in ``deployment``."""
    return {name: dimension_value(value, deployment) for name, value in spec.metric.dimensions}


_COMPARISONS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def alarms_markdown() -> str:
    """The README's table of alarms (names and dimensions with ``<prefix>``)."""
    placeholder = Deployment(prefix="<prefix>")
    lines = [
        "| alarm | fires when | metric | threshold | why | when it fires |",
        "|---|---|---|---|---|---|",
    ]
    for spec in ALARMS:
        metric = spec.metric
        dimensions = ", ".join(
            f"{name} `{value}`" for name, value in alarm_dimensions(spec, placeholder).items()
        )
        minutes = metric.period_seconds * spec.evaluation_periods // 60
        threshold = f"{spec.threshold:g} {spec.threshold_unit}".strip()
        lines.append(
            f"| `{placeholder.resource_name(spec.name)}` | {spec.what} "
            f"| `{metric.namespace}` `{metric.name}` ({dimensions}), {metric.statistic} "
            f"over {minutes} min | {_COMPARISONS[spec.comparison]} {threshold} | {spec.why} "
            f"| {spec.response} |"
        )
    return "\n".join(lines)
