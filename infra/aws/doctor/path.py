"""The ingest path's links after the API (:mod:`infra.aws.doctor.api`), as a request
travels them: the ingest function, the queue and the mapping that feeds the drain (the
drain and the database: :mod:`infra.aws.doctor.drain`); and what the path's links share
(:class:`PathCheck`, :class:`PathNames`, :func:`check_function`).

2. ``ingest``: the ingest function's plan, its code aside (``deploy apply --only
   functions`` when it is not empty): the function exists, its configuration (its
   ``QUEUE_URL`` the ingest queue's) is the declared one, and its alias points at a
   published version holding it;
3. ``queue``: the queues' plan (``deploy apply --only queues`` when it is not empty): the
   ingest FIFO queue and its DLQ, with the redrive policy the catalog declares; messages
   waiting in the DLQ are a warning (they need a look and ``aurora-events replay``);
4. ``mapping``: the event source mappings' plan (``deploy apply --only event-sources``):
   the ingest queue feeds the drain's alias, enabled, with ``ReportBatchItemFailures``. A
   mapping tagged :data:`~infra.aws.tags.OWN_POLLER_TAG` is declared disabled: what the tag
   names feeds the drain (the local stack's poller).

Reads only; the names come from the catalog and the deployment's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from functions.common.resources import RESOURCES
from infra.aws.aurora.state import Clients
from infra.aws.doctor.diagnosis import LinkResult
from infra.aws.doctor.fixes import deploy_apply_command
from infra.aws.doctor.plans import plan_link, with_only
from infra.aws.function_state import alias_version
from infra.aws.resources.context import Context, EventPathOptions, Target
from infra.aws.resources.event_sources import EventSources
from infra.aws.resources.functions import Functions
from infra.aws.resources.queues import Queues
from infra.aws.tags import LOCAL_RUNTIME_TAG, OWN_POLLER_TAG
from infra.catalog import (
    EVENT_SOURCES,
    LIVE_ALIAS,
    Deployment,
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
    # How the deployment departs from AWS's (the plans' options); None: as its functions'
    # tags say (the local stack's runtime runs the code from this repository, no layer).
    options: EventPathOptions | None = None


def deployed_options(lambda_client, function_arn: str) -> EventPathOptions:
    """The options a deployment was applied with, as its function's tags record them: one
    the local runtime runs (:data:`~infra.aws.tags.LOCAL_RUNTIME_TAG`) has no layer."""
    try:
        tags = lambda_client.list_tags(Resource=function_arn)["Tags"]
    except lambda_client.exceptions.ResourceNotFoundException:
        tags = {}
    return EventPathOptions(vendor_dependencies=LOCAL_RUNTIME_TAG not in tags)


class PathNames:
    """The deployed names and ARNs of the path's resources."""

    def __init__(self, check: PathCheck, target: Target) -> None:
        self.check = check
        self.deployment = check.deployment
        self.target = target
        self.prefix = check.deployment.prefix
        self.api = self.deployment.resource_name("api")
        # The resources' plans the links read, with the options the deployment was applied
        # with (the mappings declared enabled: one the local poller stands in for says so).
        self.context = Context(self.deployment, target)
        self.context.options = check.options or deployed_options(
            self.context.client("lambda"), self.function_arn("ingest")
        )

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

    def deploy_apply_only(self, keys: list[str]) -> str:
        """``deploy apply --only <key>...``: the resources whose plan differs (with the
        layer when the functions name its version: its plan finds it)."""
        if "functions" in keys and self.context.options.vendor_dependencies:
            keys = ["layer", *keys]
        return with_only(self.deploy_apply(), keys)


# -- the functions -----------------------------------------------------------------------


def check_function(
    names: PathNames, link: str, function: str, consequence: str, *, missing: bool = False
) -> LinkResult:
    """The function's plan, its code aside
    (:meth:`~infra.aws.resources.functions.Functions.plan_configuration`: it exists, its
    configuration is the declared one, its alias points at a published version holding it);
    the link is broken while that plan is not empty, and ``deploy apply --only functions``
    is the fix. ``missing``: only the function or its alias missing counts (what a link
    that merely invokes it needs). When empty, the detail names what
    callers run (the alias's version)."""
    functions = names.context.resource(Functions)
    alias = names.check.alias
    result = plan_link(
        link,
        {"functions": lambda: functions.plan_configuration([function], alias, missing=missing)},
        names.deploy_apply_only,
        "",
        consequence,
    )
    if not result.ok:
        return result
    name = names.function(function)
    version = alias_version(names.context.client("lambda"), name, alias) if alias else "$LATEST"
    return replace(result, detail=f"{names.caller(function)} (version {version})")


def check_ingest(clients: Clients, names: PathNames) -> LinkResult:
    """The ingest function, as declared (its ``QUEUE_URL`` the ingest queue's)."""
    result = check_function(
        names,
        "ingest",
        "ingest",
        "the API's requests reach an ingest function other than the declared one (with a "
        "wrong QUEUE_URL each answers 503; at $LATEST every change goes live untested)",
    )
    if not result.ok:
        return result
    return replace(result, detail=f"{result.detail} sends to {names.queue('ingest')}")


# -- queue -------------------------------------------------------------------------------


def check_queue(clients: Clients, names: PathNames) -> LinkResult:
    """The queues' plan (the ingest queue, its DLQ and redrive policy, the catalog's other
    queues); then how many messages wait in the DLQ (a warning: the path works)."""
    spec = queue_spec("ingest")
    dead_letter = names.queue(spec.dead_letter_queue)
    result = plan_link(
        "queue",
        {"queues": Queues(names.context).plan},
        names.deploy_apply_only,
        f"{names.queue('ingest')} -> {dead_letter} after {spec.max_receive_count} receives",
        "without its declared redrive policy a message the drain can never write is retried "
        "forever, holding up its customer, or goes astray",
    )
    if not result.ok:
        return result
    dead = clients.get("sqs").get_queue_attributes(
        QueueUrl=names.context.queue_url(spec.dead_letter_queue),
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    waiting = int(dead.get("ApproximateNumberOfMessages", 0))
    warning = (
        f"{waiting} message(s) wait in {dead_letter}: find why the drain could not write them "
        "(its logs), then aurora-events replay"
        if waiting
        else None
    )
    return replace(
        result, detail=f"{result.detail}; {waiting} message(s) in the DLQ", warning=warning
    )


# -- mapping -----------------------------------------------------------------------------


def check_mapping(clients: Clients, names: PathNames) -> LinkResult:
    """The event source mappings' plan (a mapping tagged :data:`OWN_POLLER_TAG` is declared
    disabled); the drain's mapping as found when it is as declared."""
    (source,) = [s for s in EVENT_SOURCES if s.function == "drain" and s.queue == "ingest"]
    queue, caller = names.queue(source.queue), names.caller(source.function)
    # The mapping feeds the drain's alias: it must exist first.
    drain = check_function(names, "mapping", "drain", f"nothing drains {queue}", missing=True)
    if not drain.ok:
        return drain
    sources = EventSources(names.context)
    result = plan_link(
        "mapping",
        {"event-sources": sources.plan},
        names.deploy_apply_only,
        "",
        "requests wait in the queue unless its mapping feeds the drain as declared (without "
        "ReportBatchItemFailures Lambda deletes the messages the drain reports failed)",
    )
    if not result.ok:
        return result
    (mapping,) = sources.mappings(
        EventSourceArn=names.queue_arn(source.queue), FunctionName=names.caller_arn("drain")
    )[:1]
    state, poller = mapping.get("State", ""), sources.own_poller(mapping)
    how = (
        state
        if poller is None
        else f"{state}, as its tag {OWN_POLLER_TAG} says: {poller} feeds the drain"
    )
    warning = (
        f"the event source mapping {mapping['UUID']} is {state} while {poller} feeds the drain "
        f"too (its tag {OWN_POLLER_TAG}): two consumers take the queue's messages"
        if poller is not None and state in ENABLED_STATES
        else None
    )
    return LinkResult(
        "mapping",
        f"{queue} -> {caller} ({mapping['UUID']}): {how}, batch {mapping.get('BatchSize')}, "
        "ReportBatchItemFailures",
        warning=warning,
    )
