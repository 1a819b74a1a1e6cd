"""The event source mappings: each catalog queue feeds its function's alias ``live``.

A mapping tagged :data:`~infra.aws.tags.OWN_POLLER_TAG` is declared disabled: what the tag
names feeds the function in its stead (the local stack's poller), so the plan keeps it
disabled and the doctor finds it as declared."""

from __future__ import annotations

from collections.abc import Iterator

from infra.aws.changes import Change
from infra.aws.function_versions import alias_arn
from infra.aws.resources.base import AwsResource
from infra.aws.tags import OWN_POLLER_TAG
from infra.catalog import EVENT_SOURCES, FUNCTIONS, LIVE_ALIAS, EventSourceSpec, FunctionArn


def function_of(arn: str) -> str:
    """A function ARN without its qualifier (version or alias), if it has one."""
    head, _, rest = arn.partition(":function:")
    return f"{head}:function:{rest.split(':', 1)[0]}"


def mapping_settings(source: EventSourceSpec, enabled: bool) -> dict:
    """The mapping's declared settings, as ``create_event_source_mapping`` takes them."""
    return {
        "BatchSize": source.batch_size,
        "Enabled": enabled,
        "FunctionResponseTypes": (
            ["ReportBatchItemFailures"] if source.report_batch_item_failures else []
        ),
        "ScalingConfig": {"MaximumConcurrency": source.maximum_concurrency},
    }


def mapping_drift(mapping: dict, wanted: dict) -> list[str]:
    """``"<setting>: <now> -> <wanted>"`` for each declared setting the mapping lacks."""
    now = {
        "BatchSize": mapping.get("BatchSize"),
        "Enabled": mapping.get("State") in ("Enabled", "Enabling", "Updating"),
        "FunctionResponseTypes": sorted(mapping.get("FunctionResponseTypes", [])),
        "ScalingConfig": {
            "MaximumConcurrency": mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
        },
    }
    return [f"{key}: {now[key]} -> {value}" for key, value in wanted.items() if now[key] != value]


class EventSources(AwsResource):
    """One mapping per catalog event source, from its queue to the function's alias live."""

    key = "event-sources"

    def mappings(self, **query: str) -> list[dict]:
        """The event source mappings ``query`` selects (every page); none when its function
        does not exist. Asked by the alias, Lambda and moto alike answer its mapping (moto
        reports that mapping with the alias's version's ARN, Lambda with the alias's)."""
        lambda_ = self.context.client("lambda")
        try:
            return [
                mapping
                for page in lambda_.get_paginator("list_event_source_mappings").paginate(**query)
                for mapping in page["EventSourceMappings"]
            ]
        except lambda_.exceptions.ResourceNotFoundException:
            return []

    def plan(self) -> Iterator[Change]:
        for source in EVENT_SOURCES:
            yield from self._plan_source(source)

    def _plan_source(self, source: EventSourceSpec) -> Iterator[Change]:
        """The queue's mapping to the function's alias live. A mapping an earlier deploy
        made to the unqualified function is moved to the alias (an update: no second
        poller, no gap)."""
        lambda_ = self.context.client("lambda")
        enabled = self.context.options.event_sources_enabled
        function_name = self.deployment.resource_name(source.function)
        function_arn = self.context.resource_arn(FunctionArn(source.function))
        live = alias_arn(function_arn)
        queue_arn = self.context.queue_arn(source.queue)
        settings = mapping_settings(source, enabled)
        resource = f"event source mapping {source.queue} -> {function_name}:{LIVE_ALIAS}"
        at_alias = self.mappings(EventSourceArn=queue_arn, FunctionName=live)
        elsewhere = [
            mapping
            for mapping in self.mappings(EventSourceArn=queue_arn)
            if mapping["UUID"] not in {m["UUID"] for m in at_alias}
            and function_of(mapping["FunctionArn"]) == function_arn
        ]
        if not at_alias and not elsewhere:
            yield Change(
                resource,
                "create",
                f"batch {source.batch_size}, max concurrency {source.maximum_concurrency}"
                + ("" if enabled else ", disabled"),
                run=lambda: lambda_.create_event_source_mapping(
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
                run=lambda: lambda_.update_event_source_mapping(
                    UUID=mapping["UUID"], FunctionName=live, **settings
                ),
            )
            return
        mapping = at_alias[0]
        if self.own_poller(mapping) is not None:
            settings = mapping_settings(source, enabled=False)
        drift = mapping_drift(mapping, settings)
        if drift:
            yield Change(
                resource,
                "update",
                f"{mapping['UUID']}: " + "; ".join(drift),
                run=lambda: lambda_.update_event_source_mapping(UUID=mapping["UUID"], **settings),
            )

    def own_poller(self, mapping: dict) -> str | None:
        """What the mapping's tag :data:`OWN_POLLER_TAG` names as feeding its function in
        its stead (the local stack's poller), or None: the mapping itself feeds it."""
        arn = mapping.get("EventSourceMappingArn") or self.target.arn(
            "lambda", f"event-source-mapping:{mapping['UUID']}"
        )
        tags = self.context.client("lambda").list_tags(Resource=arn).get("Tags") or {}
        return tags.get(OWN_POLLER_TAG)

    def plan_destroy(self) -> list[Change]:
        """The mappings to the deployment's functions (those with its tags), whatever their
        qualifier: before the functions go."""
        lambda_ = self.context.client("lambda")
        changes = []
        for spec in FUNCTIONS:
            try:
                configuration = lambda_.get_function(FunctionName=self.context.function_name(spec))[
                    "Configuration"
                ]
            except lambda_.exceptions.ResourceNotFoundException:
                continue
            if not self.context.ours(
                lambda_.list_tags(Resource=configuration["FunctionArn"])["Tags"]
            ):
                continue
            for mapping in self.function_mappings(configuration["FunctionArn"]):
                changes.append(
                    Change(
                        f"event source mapping {mapping['UUID']}",
                        "delete",
                        run=lambda uuid=mapping["UUID"]: lambda_.delete_event_source_mapping(
                            UUID=uuid
                        ),
                    )
                )
        return changes

    def function_mappings(self, function_arn: str) -> list[dict]:
        """The event source mappings to the function, whatever their qualifier (an earlier
        deploy mapped the function itself; this one maps its alias)."""
        queries = [
            {"FunctionName": function_arn},
            {"FunctionName": alias_arn(function_arn)},
            *({"EventSourceArn": self.context.queue_arn(s.queue)} for s in EVENT_SOURCES),
        ]
        found = {}
        for query in queries:
            for mapping in self.mappings(**query):
                if function_of(mapping["FunctionArn"]) == function_arn:
                    found[mapping["UUID"]] = mapping
        return list(found.values())
