"""The ingest path's links after the API (:mod:`infra.aws.doctor.api`), as a request
travels them: the ingest function, the queue and the mapping that feeds the drain (the
drain and the database: :mod:`infra.aws.doctor.drain`); and what the path's links share
(:class:`PathCheck`, :class:`PathNames`, :func:`check_alias`).

2. ``ingest``: the function and its alias exist, the alias points at a published
   version, and that version's ``QUEUE_URL`` is the ingest queue;
3. ``queue``: the ingest FIFO queue and its DLQ exist, with the redrive policy the catalog
   declares; messages waiting in the DLQ are a warning (the path works; they need a look
   and ``aurora-events replay``), not a broken link;
4. ``mapping``: an event source mapping feeds the ingest queue to the drain's alias,
   enabled, with ``ReportBatchItemFailures`` (without it Lambda deletes the messages the
   drain reports failed). A mapping tagged :data:`~infra.aws.tags.OWN_POLLER_TAG` is
   disabled on purpose: what the tag names feeds the drain (the local stack's poller).

Reads only; the names come from the catalog and the deployment's settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from functions.common.resources import RESOURCES
from infra.aws.aurora.state import Clients
from infra.aws.doctor.diagnosis import LinkResult, aws_command, broken, compact_json
from infra.aws.doctor.fixes import alias_fix, deploy_apply_command
from infra.aws.function_state import (
    alias_version,
    function_configuration,
    published_versions,
)
from infra.aws.resources.context import Target
from infra.aws.resources.queues import queue_attributes
from infra.aws.tags import OWN_POLLER_TAG
from infra.catalog import (
    EVENT_SOURCES,
    LIVE_ALIAS,
    Deployment,
    EventSourceSpec,
    queue_spec,
)

PATH_LINKS = ("api", "ingest", "queue", "mapping", "drain", "database")
ENABLED_STATES = ("Enabled", "Enabling", "Updating", "Creating")


def route_keys() -> list[str]:
    """The HTTP API's routes: one ``POST /<resource>`` per declared ingest resource."""
    return [f"POST {resource.path}" for resource in RESOURCES]


@dataclass(frozen=True)
class PathCheck:
    """What the path's links check: a deployment, and how it is meant to run."""

    deployment: Deployment
    # The alias every caller uses; None: a deployment without versions (its callers use
    # the unqualified functions).
    alias: str | None = LIVE_ALIAS
    # Links a stand-in serves, left out with the reason (the local stack's API endpoint).
    skipped: Mapping[str, str] = field(default_factory=dict)


class PathNames:
    """The deployed names and ARNs of the path's resources."""

    def __init__(self, check: PathCheck, target: Target) -> None:
        self.check = check
        self.deployment = check.deployment
        self.target = target
        self.prefix = check.deployment.prefix
        self.api = self.deployment.resource_name("api")

    def function(self, name: str) -> str:
        return self.deployment.resource_name(name)

    def function_arn(self, name: str) -> str:
        return self.target.arn("lambda", f"function:{self.function(name)}")

    def caller_arn(self, name: str) -> str:
        """What callers name: the alias's ARN (or the function's, without an alias)."""
        arn = self.function_arn(name)
        return f"{arn}:{self.check.alias}" if self.check.alias else arn

    def caller(self, name: str) -> str:
        """``<prefix>-drain:live`` (or ``<prefix>-drain``), for messages."""
        alias = self.check.alias
        return self.function(name) + (f":{alias}" if alias else "")

    def queue(self, name: str) -> str:
        return queue_spec(name).deployed_name(self.deployment)

    def queue_arn(self, name: str) -> str:
        return self.target.arn("sqs", self.queue(name))

    def execute_api_arn(self, api_id: str, rest: str) -> str:
        return self.target.arn("execute-api", f"{api_id}/{rest}")

    def deploy_apply(self) -> str:
        return deploy_apply_command(self.prefix)


def all_items(client, operation: str, key: str, **options) -> list[dict]:
    items = []
    for page in client.get_paginator(operation).paginate(**options):
        items.extend(page.get(key, []))
    return items


# -- ingest ------------------------------------------------------------------------------


def check_alias(clients: Clients, names: PathNames, link: str, function: str):
    """The function and its alias (pointing at a published version): the alias's
    configuration, or the broken result."""
    lambda_client = clients.get("lambda")
    name = names.function(function)
    if function_configuration(lambda_client, name) is None:
        return broken(link, f"no function {name}", names.deploy_apply(), "aurora-events")
    alias = names.check.alias
    if alias is None:
        return function_configuration(lambda_client, name)
    version = alias_version(lambda_client, name, alias)
    if version is None:
        fix, kind = alias_fix(lambda_client, name, alias, names.prefix)
        return broken(
            link,
            f"function {name} has no alias {alias}: what calls {names.caller(function)} fails",
            fix,
            kind,
        )
    if version == "$LATEST":
        versions = published_versions(lambda_client, name)
        fix, kind = (
            (
                aws_command(
                    "lambda",
                    "update-alias",
                    "--function-name",
                    name,
                    "--name",
                    alias,
                    "--function-version",
                    versions[-1],
                ),
                "aws",
            )
            if versions
            else (names.deploy_apply(), "aurora-events")
        )
        return broken(
            link,
            f"alias {alias} of {name} points at $LATEST, not a published version: every "
            "code change goes live untested, and there is nothing to roll back to",
            fix,
            kind,
        )
    return function_configuration(lambda_client, name, alias)


def check_ingest(clients: Clients, names: PathNames) -> LinkResult:
    configuration = check_alias(clients, names, "ingest", "ingest")
    if isinstance(configuration, LinkResult):
        return configuration
    sqs = clients.get("sqs")
    try:
        queue_url = sqs.get_queue_url(QueueName=names.queue("ingest"))["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        queue_url = None
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    current = variables.get("QUEUE_URL")
    version = configuration.get("Version", "$LATEST")
    if queue_url is None or current != queue_url:
        why = (
            f"queue {names.queue('ingest')} does not exist"
            if queue_url is None
            else f"it should be {queue_url}"
        )
        return broken(
            "ingest",
            f"{names.caller('ingest')} (version {version}) has QUEUE_URL "
            f"{current or 'unset'}, but {why}: every request answers 503",
            names.deploy_apply(),
            "aurora-events",
        )
    return LinkResult(
        "ingest", f"{names.caller('ingest')} (version {version}) sends to {names.queue('ingest')}"
    )


# -- queue -------------------------------------------------------------------------------


def check_queue(clients: Clients, names: PathNames) -> LinkResult:
    sqs = clients.get("sqs")
    spec = queue_spec("ingest")
    urls = {}
    for queue in ("ingest", spec.dead_letter_queue):
        try:
            urls[queue] = sqs.get_queue_url(QueueName=names.queue(queue))["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            return broken(
                "queue",
                f"no queue {names.queue(queue)}"
                + (": the ingest function has nowhere to send" if queue == "ingest" else ""),
                names.deploy_apply(),
                "aurora-events",
            )
    attributes = sqs.get_queue_attributes(QueueUrl=urls["ingest"], AttributeNames=["All"])[
        "Attributes"
    ]
    wanted = queue_attributes(spec, names.queue_arn)["RedrivePolicy"]
    current = attributes.get("RedrivePolicy")
    if current is None or _redrive(current) != _redrive(wanted):
        fix = aws_command(
            "sqs",
            "set-queue-attributes",
            "--queue-url",
            urls["ingest"],
            "--attributes",
            compact_json({"RedrivePolicy": wanted}),
        )
        return broken(
            "queue",
            f"queue {names.queue('ingest')} has redrive policy {current or 'none'}, not "
            f"{wanted}: a message the drain can never write "
            + ("is retried forever, holding up its customer" if current is None else "goes astray"),
            fix,
            "aws",
        )
    dead = sqs.get_queue_attributes(
        QueueUrl=urls[spec.dead_letter_queue], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    waiting = int(dead.get("ApproximateNumberOfMessages", 0))
    warning = (
        f"{waiting} message(s) wait in {names.queue(spec.dead_letter_queue)}: find why the "
        "drain could not write them (its logs), then aurora-events replay"
        if waiting
        else None
    )
    return LinkResult(
        "queue",
        f"{names.queue('ingest')} -> {names.queue(spec.dead_letter_queue)} after "
        f"{spec.max_receive_count} receives; {waiting} message(s) in the DLQ",
        warning=warning,
    )


def _redrive(text: str) -> dict:
    """A redrive policy in one spelling (SQS may give the count as a string)."""
    try:
        policy = json.loads(text)
    except ValueError:
        return {"unreadable": text}
    return {key: str(value) for key, value in policy.items()}


# -- mapping -----------------------------------------------------------------------------


def check_mapping(clients: Clients, names: PathNames) -> LinkResult:
    (source,) = [s for s in EVENT_SOURCES if s.function == "drain" and s.queue == "ingest"]
    lambda_client = clients.get("lambda")
    queue_arn = names.queue_arn(source.queue)
    drain = names.caller_arn(source.function)
    try:
        mappings = mappings_to(lambda_client, queue_arn, drain, names.caller(source.function))
    except lambda_client.exceptions.ResourceNotFoundException:
        return broken(
            "mapping",
            f"{names.caller(source.function)} does not exist, so nothing drains "
            f"{names.queue(source.queue)}",
            names.deploy_apply(),
            "aurora-events",
        )
    if not mappings:
        return _missing_mapping(lambda_client, names, source, queue_arn, drain)
    mapping = mappings[0]
    uuid = mapping["UUID"]
    state = mapping.get("State", "")
    poller = own_poller(lambda_client, names, mapping)
    if poller is None and state not in ENABLED_STATES:
        reason = mapping.get("StateTransitionReason")
        return broken(
            "mapping",
            f"the event source mapping {uuid} from {names.queue(source.queue)} to "
            f"{names.caller(source.function)} is {state}"
            + (f" ({reason})" if reason else "")
            + ": requests wait in the queue (14 days at most)",
            aws_command("lambda", "update-event-source-mapping", "--uuid", uuid, "--enabled"),
            "aws",
        )
    if source.report_batch_item_failures and "ReportBatchItemFailures" not in (
        mapping.get("FunctionResponseTypes") or []
    ):
        return broken(
            "mapping",
            f"the event source mapping {uuid} lacks ReportBatchItemFailures: Lambda deletes "
            "the messages the drain reports failed, and their writes are lost",
            aws_command(
                "lambda",
                "update-event-source-mapping",
                "--uuid",
                uuid,
                "--function-response-types",
                "ReportBatchItemFailures",
            ),
            "aws",
        )
    how = (
        state
        if poller is None
        else f"{state}, as its tag {OWN_POLLER_TAG} says: {poller} feeds the drain"
    )
    warning = (
        f"the event source mapping {uuid} is {state} while {poller} feeds the drain too "
        f"(its tag {OWN_POLLER_TAG}): two consumers take the queue's messages"
        if poller is not None and state in ENABLED_STATES
        else None
    )
    return LinkResult(
        "mapping",
        f"{names.queue(source.queue)} -> {names.caller(source.function)} ({uuid}): {how}, "
        f"batch {mapping.get('BatchSize')}, ReportBatchItemFailures",
        warning=warning,
    )


def own_poller(lambda_client, names: PathNames, mapping: Mapping) -> str | None:
    """What the mapping's tag :data:`OWN_POLLER_TAG` names as feeding its function in its
    stead (the local stack's poller), or None: the mapping itself must feed it."""
    arn = mapping.get("EventSourceMappingArn") or names.target.arn(
        "lambda", f"event-source-mapping:{mapping['UUID']}"
    )
    tags = lambda_client.list_tags(Resource=arn).get("Tags") or {}
    return tags.get(OWN_POLLER_TAG)


def mappings_to(lambda_client, queue_arn: str, function_arn: str, function: str) -> list[dict]:
    """The event source mappings from the queue to exactly this function (alias, or the
    unqualified function). Lambda takes the function's ARN or name as the filter and
    reports the mapping's ``FunctionArn``; each spelling is tried, since moto matches the
    filter only against the spelling the mapping was created with."""
    for form in (function_arn, function):
        found = all_items(
            lambda_client,
            "list_event_source_mappings",
            "EventSourceMappings",
            EventSourceArn=queue_arn,
            FunctionName=form,
        )
        if found:
            return found
    every = all_items(
        lambda_client, "list_event_source_mappings", "EventSourceMappings", EventSourceArn=queue_arn
    )
    return [m for m in every if m.get("FunctionArn") == function_arn]


def _missing_mapping(
    lambda_client, names: PathNames, source: EventSourceSpec, queue_arn: str, drain: str
) -> LinkResult:
    others = all_items(
        lambda_client, "list_event_source_mappings", "EventSourceMappings", EventSourceArn=queue_arn
    )
    if others:
        other = others[0]
        return broken(
            "mapping",
            f"the event source mapping {other['UUID']} feeds {names.queue(source.queue)} to "
            f"{other.get('FunctionArn')}, not {drain}: a deploy's new version never drains",
            aws_command(
                "lambda",
                "update-event-source-mapping",
                "--uuid",
                other["UUID"],
                "--function-name",
                drain,
            ),
            "aws",
        )
    options = [
        "--function-name",
        drain,
        "--event-source-arn",
        queue_arn,
        "--batch-size",
        str(source.batch_size),
        "--scaling-config",
        compact_json({"MaximumConcurrency": source.maximum_concurrency}),
    ]
    if source.report_batch_item_failures:
        options += ["--function-response-types", "ReportBatchItemFailures"]
    return broken(
        "mapping",
        f"no event source mapping from {names.queue(source.queue)} to "
        f"{names.caller(source.function)}: requests wait in the queue, nothing writes them",
        aws_command("lambda", "create-event-source-mapping", *options),
        "aws",
    )
