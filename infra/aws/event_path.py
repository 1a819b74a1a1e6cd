"""Create the notification path's resources, idempotently: topic, queues, SES identity,
the functions' execution role, and the functions with their async-invocation settings.

Every resource gets the tags in :func:`project_tags`. Run it twice and the second run
creates nothing (AWS's create calls for these resources are idempotent, or we look first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import boto3

from infra.aws.packaging import build_functions_zip
from infra.catalog import (
    EVENT_SOURCES,
    FUNCTIONS,
    QUEUES,
    TOPICS,
    Deployment,
    QueueSpec,
    resolve_environment,
)

LAMBDA_RUNTIME = "python3.11"
LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass
class EventPathResources:
    """What exists after :func:`apply_event_path`, by declared (not deployed) name."""

    topic_arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    function_environments: dict[str, dict[str, str]] = field(default_factory=dict)


def project_tags(deployment: Deployment) -> dict[str, str]:
    return {"project": "aurora-events", "aurora-events:prefix": deployment.prefix}


def apply_event_path(deployment: Deployment) -> EventPathResources:
    """Converge the notification path to the catalog; return what exists."""
    tags = project_tags(deployment)
    resources = EventPathResources()
    sns = boto3.client("sns")
    for topic in TOPICS:
        resources.topic_arns[topic.name] = sns.create_topic(
            Name=deployment.resource_name(topic.name),
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["TopicArn"]

    sqs = boto3.client("sqs")
    # Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
    for queue in sorted(QUEUES, key=lambda q: q.dead_letter_queue is not None):
        url = ensure_queue(sqs, deployment, queue, resources.queue_arns, tags)
        resources.queue_urls[queue.name] = url
        resources.queue_arns[queue.name] = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

    boto3.client("ses").verify_email_identity(EmailAddress=deployment.email_from)

    role_arn = ensure_execution_role(boto3.client("iam"), deployment, tags)
    lambda_client = boto3.client("lambda")
    package = build_functions_zip()
    for spec in FUNCTIONS:
        environment = resolve_environment(
            spec, deployment, resources.topic_arns, resources.queue_urls
        )
        resources.function_environments[spec.name] = environment
        resources.function_arns[spec.name] = ensure_function(
            lambda_client, deployment, spec, role_arn, environment, package, tags
        )
        destination = {}
        if spec.on_failure_queue:
            destination = {
                "OnFailure": {"Destination": resources.queue_arns[spec.on_failure_queue]}
            }
        lambda_client.put_function_event_invoke_config(
            FunctionName=deployment.resource_name(spec.name),
            MaximumRetryAttempts=spec.max_retry_attempts,
            DestinationConfig=destination,
        )
    for source in EVENT_SOURCES:
        ensure_event_source(lambda_client, deployment, source, resources.queue_arns[source.queue])
    return resources


def queue_attributes(queue: QueueSpec, queue_arns: dict[str, str]) -> dict[str, str]:
    """The SQS attributes that the declaration implies."""
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
                "deadLetterTargetArn": queue_arns[queue.dead_letter_queue],
                "maxReceiveCount": queue.max_receive_count,
            }
        )
    return attributes


def ensure_queue(sqs, deployment, queue: QueueSpec, queue_arns, tags) -> str:
    """Create the queue, or bring its attributes in line; return its URL."""
    name = queue.deployed_name(deployment)
    wanted = queue_attributes(queue, queue_arns)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return sqs.create_queue(QueueName=name, Attributes=wanted, tags=tags)["QueueUrl"]
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # FifoQueue cannot change after creation; everything else can.
    changed = {
        key: value
        for key, value in wanted.items()
        if key != "FifoQueue" and _normalized(current.get(key)) != _normalized(value)
    }
    if changed:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
    return url


def _normalized(value):
    try:
        return json.loads(value) if isinstance(value, str) and value.startswith("{") else value
    except ValueError:
        return value


def ensure_event_source(lambda_client, deployment, source, queue_arn: str) -> str:
    """Create or update the event source mapping; return its UUID.

    ``deployment.event_sources_enabled`` is False for the local stack: moto's mapping would
    take messages off the queue without running the handler, and the local poller
    (infra/local/event_source.py) does the mapping's work instead.
    """
    function_name = deployment.resource_name(source.function)
    settings = {
        "BatchSize": source.batch_size,
        "Enabled": deployment.event_sources_enabled,
        "FunctionResponseTypes": (
            ["ReportBatchItemFailures"] if source.report_batch_item_failures else []
        ),
        "ScalingConfig": {"MaximumConcurrency": source.maximum_concurrency},
    }
    existing = lambda_client.list_event_source_mappings(
        FunctionName=function_name, EventSourceArn=queue_arn
    )["EventSourceMappings"]
    if not existing:
        return lambda_client.create_event_source_mapping(
            FunctionName=function_name, EventSourceArn=queue_arn, **settings
        )["UUID"]
    mapping = existing[0]
    current_enabled = mapping.get("State") in ("Enabled", "Enabling")
    if (
        mapping.get("BatchSize") != source.batch_size
        or current_enabled != deployment.event_sources_enabled
        or mapping.get("ScalingConfig", {}).get("MaximumConcurrency") != source.maximum_concurrency
    ):
        lambda_client.update_event_source_mapping(UUID=mapping["UUID"], **settings)
    return mapping["UUID"]


def ensure_execution_role(iam, deployment: Deployment, tags: dict[str, str]) -> str:
    """The functions' execution role (trusting lambda.amazonaws.com); its ARN."""
    name = deployment.resource_name("functions")
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY),
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["Role"]["Arn"]


def ensure_function(lambda_client, deployment, spec, role_arn, environment, package, tags) -> str:
    """Create the function, or bring its configuration in line; return its ARN."""
    name = deployment.resource_name(spec.name)
    settings = {
        "Role": role_arn,
        "Handler": spec.handler,
        "Runtime": LAMBDA_RUNTIME,
        "Timeout": spec.timeout_seconds,
        "MemorySize": spec.memory_mb,
        "Environment": {"Variables": environment},
        "Description": spec.description,
    }
    try:
        current = lambda_client.get_function(FunctionName=name)["Configuration"]
    except lambda_client.exceptions.ResourceNotFoundException:
        return lambda_client.create_function(
            FunctionName=name, Code={"ZipFile": package}, Tags=tags, **settings
        )["FunctionArn"]
    if any(current.get(key) != value for key, value in settings.items()):
        lambda_client.update_function_configuration(FunctionName=name, **settings)
    return current["FunctionArn"]
