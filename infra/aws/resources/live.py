"""What exists after an apply, by declared (not deployed) name: the identifiers the local
stack wires its runtime, poller and subscriptions to."""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.aws.function_versions import alias_arn
from infra.aws.resources.context import Context
from infra.aws.resources.functions import Functions
from infra.catalog import FUNCTIONS, QUEUES, TOPICS


@dataclass
class LiveResources:
    """The live identifiers of the declared resources."""

    topic_arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)  # unqualified
    # What callers invoke: each function's alias live (``<function ARN>:live``).
    live_arns: dict[str, str] = field(default_factory=dict)
    function_environments: dict[str, dict[str, str]] = field(default_factory=dict)


def live_resources(context: Context) -> LiveResources:
    """The live identifiers of ``context``'s deployment (after an apply)."""
    found = LiveResources()
    found.topic_arns = {t.name: context.topic_arn(t.name) for t in TOPICS}
    for queue in QUEUES:
        found.queue_urls[queue.name] = context.queue_url(queue.name)
        found.queue_arns[queue.name] = context.queue_arn(queue.name)
    lambda_ = context.client("lambda")
    functions = context.resource(Functions)
    for spec in FUNCTIONS:
        configuration = lambda_.get_function(FunctionName=context.function_name(spec))[
            "Configuration"
        ]
        found.function_arns[spec.name] = configuration["FunctionArn"]
        found.live_arns[spec.name] = alias_arn(configuration["FunctionArn"])
        found.function_environments[spec.name] = functions.environment(spec)
    return found
