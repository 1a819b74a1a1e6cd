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


# -- references resolved when the resources exist ----------------------------------------


@dataclass(frozen=True)
class TopicArn:
    """The ARN of a declared topic."""

    topic: str


@dataclass(frozen=True)
class Setting:
    """A deployment setting (see :class:`Deployment`), by attribute name."""

    name: str


EnvironmentValue = str | TopicArn | Setting


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


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str


@dataclass(frozen=True)
class QueueSpec:
    name: str
    description: str
    message_retention_seconds: int = 1_209_600  # 14 days, SQS's maximum


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="notify",
        handler="functions.notify.handler.handler",
        description="Publishes a row event to the notifications SNS topic.",
        invoked_by="Aurora `lambda_async` from row-event triggers",
        timeout_seconds=30,
        environment={"TOPIC_ARN": TopicArn("notifications")},
    ),
    FunctionSpec(
        name="email",
        handler="functions.email.handler.handler",
        description="Sends a row event as an email through SES from a verified identity.",
        invoked_by="Aurora `lambda_async` from row-event triggers",
        timeout_seconds=30,
        environment={"EMAIL_FROM": Setting("email_from"), "EMAIL_TO": Setting("email_to")},
    ),
)

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("notifications", "Row events published by the notify function."),
)

QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(
        "lambda-failures",
        "Lambda on-failure destination: asynchronous invocations whose retries ran out.",
    ),
)


# -- deployment --------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """Settings that differ between deployments (local stack, staging, production)."""

    prefix: str = DEFAULT_PREFIX
    email_from: str = "notifications@example.com"
    email_to: str = "team@example.com"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Deployment:
        """Read ``AURORA_EVENTS_PREFIX``, ``..._EMAIL_FROM`` and ``..._EMAIL_TO``."""
        environ = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            prefix=environ.get("AURORA_EVENTS_PREFIX") or defaults.prefix,
            email_from=environ.get("AURORA_EVENTS_EMAIL_FROM") or defaults.email_from,
            email_to=environ.get("AURORA_EVENTS_EMAIL_TO") or defaults.email_to,
        )

    def resource_name(self, name: str) -> str:
        """The deployed name of a declared function, topic or queue."""
        return f"{self.prefix}-{name}"


def function_spec(name: str) -> FunctionSpec:
    """The declared function called ``name``; a clear error for any other name."""
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in FUNCTIONS)
    raise KeyError(f"no function {name!r} in the catalog (known: {known})")


def resolve_environment(
    spec: FunctionSpec, deployment: Deployment, topic_arns: Mapping[str, str]
) -> dict[str, str]:
    """The function's environment with every reference replaced by its value."""
    resolved = {}
    for key, value in spec.environment.items():
        if isinstance(value, TopicArn):
            resolved[key] = topic_arns[value.topic]
        elif isinstance(value, Setting):
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
        failure = f"{spec.max_retry_attempts}, then queue `{spec.on_failure_queue}`"
        lines.append(
            f"| `{spec.name}` | `{spec.handler}` | {spec.invoked_by} | {spec.timeout_seconds} s "
            f"| {spec.memory_mb} MB | {failure} |"
        )
    return "\n".join(lines)
