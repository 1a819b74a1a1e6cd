"""The deployed architecture as text, drawn from the catalog (the README's diagram).

Every name in it comes from :mod:`infra.catalog` and the ingest resources, so a function,
queue, topic, schedule or route added there shows here; ``aurora-events functions
--diagram`` prints it, and a test keeps the README's copy in step.
"""

from __future__ import annotations

from infra.catalog import (
    EVENT_SOURCES,
    FUNCTIONS,
    LIVE_ALIAS,
    OUTBOX_TARGETS,
    SCHEDULES,
    Deployment,
    function_spec,
    queue_spec,
)


def _function(deployment: Deployment, name: str) -> str:
    spec = function_spec(name)
    where = " [VPC]" if spec.in_vpc else ""
    return f"λ {deployment.resource_name(name)}:{LIVE_ALIAS}{where}"


def _queue(deployment: Deployment, name: str) -> str:
    return deployment.resource_name(name) + (".fifo" if queue_spec(name).fifo else "")


def architecture(deployment: Deployment | None = None) -> str:
    """The deployed architecture, one arrow a line, for ``deployment`` (default names)."""
    from functions.common.resources import RESOURCES

    deployment = deployment or Deployment()
    name = deployment.resource_name
    routes = ", ".join(f"POST /{resource.name}" for resource in RESOURCES)
    lines = [
        "client ──HTTPS──▶ API Gateway HTTP API "
        f"{name('api')}, stage {deployment.api_stage}: {routes}",
        f"  └─▶ {_function(deployment, 'ingest')} ──SendMessage──▶ SQS FIFO "
        f"{_queue(deployment, 'ingest')}",
    ]
    for source in EVENT_SOURCES:
        queue = queue_spec(source.queue)
        lines.append(
            f"      └─ event source mapping (batch {source.batch_size}, at most "
            f"{source.maximum_concurrency} at once) ─▶ {_function(deployment, source.function)}"
            " ─▶ [RDS Proxy, optional] ─▶ Aurora MySQL"
        )
        if queue.dead_letter_queue:
            lines.append(
                f"      └─ after {queue.max_receive_count} receives ─▶ SQS "
                f"{_queue(deployment, queue.dead_letter_queue)} (aurora-events replay)"
            )
    direct = [spec.name for spec in FUNCTIONS if spec.invoked_by_aurora and spec.name != "relay"]
    lines += [
        "Aurora MySQL, triggers AFTER INSERT, UPDATE, DELETE:",
        "  direct ──lambda_async per row──▶ "
        + " | ".join(_function(deployment, function) for function in direct),
        "  outbox ──INSERT, same transaction──▶ table aurora_events_outbox;"
        f" doorbell ──lambda_async──▶ {_function(deployment, 'relay')}",
    ]
    for schedule in SCHEDULES:
        lines.append(
            f"  EventBridge rule {name(schedule.name)} ({schedule.rate}) ─▶ "
            f"{_function(deployment, schedule.function)}"
        )
    lines.append(
        f'  {_function(deployment, "relay")} ──Invoke {{"events": [...]}}──▶ '
        + " | ".join(_function(deployment, target) for target in OUTBOX_TARGETS)
    )
    lines += [
        f"{_function(deployment, 'notify')} ──Publish(Batch)──▶ SNS {name('notifications')}"
        " ──▶ subscribers",
        f"{_function(deployment, 'email')} ──SendEmail──▶ SES ({deployment.email_from})",
    ]
    failures = sorted({spec.on_failure_queue for spec in FUNCTIONS if spec.on_failure_queue})
    for queue in failures:
        lines.append(f"async invocations whose retries ran out ──▶ SQS {_queue(deployment, queue)}")
    lines.append(f"CloudWatch alarms ──▶ SNS {name('operators')} ──▶ email (alarm_email)")
    return "\n".join(lines)
