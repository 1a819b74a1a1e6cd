"""``make bench``'s pipeline sections, run in one call on a started, migrated stack:

1. with the runtime running: end-to-end ingest latency (API request to row) and the
   sustained delivery rate of the whole pipeline (:mod:`infra.bench.pipeline`);
2. then with the runtime and the event source pollers stopped (so that nothing else
   competes for the cores): the drain handler's throughput
   (:mod:`infra.bench.drain_throughput`), the outbox relay's
   (:mod:`infra.bench.relay_throughput`) and scaling (:mod:`infra.bench.scaling`).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.bench import drain_throughput, pipeline, relay_throughput, scaling
from infra.bench.drain_throughput import DrainThroughput
from infra.bench.pipeline import IngestLatencyResult, SustainedResult
from infra.bench.relay_throughput import OrderingCost, RelayThroughput
from infra.bench.scaling import ScalingPoint

DRAIN_DATABASE = "drain_bench"
RELAY_DATABASE = "relay_bench"


@dataclass(frozen=True)
class PipelineSizes:
    ingest_requests: int
    outbox_events: int
    direct_events: int  # a notify and an email call per row: the slow mode, fewer rows
    commit_rows: int
    drain_rows: int
    scaling_rows: tuple[int, ...]
    relay_events: int = 20_000  # the backlog of each relay throughput run
    relay_rounds: int = 5  # one relay and two, in turn (the machine's load drifts)


FULL = PipelineSizes(500, 20_000, 2_000, 100, 20_000, (1_000, 10_000, 100_000))
QUICK = PipelineSizes(
    50, 2_000, 500, 100, 2_000, (1_000, 5_000), relay_events=5_000, relay_rounds=2
)


@dataclass(frozen=True)
class PipelineResults:
    ingest: IngestLatencyResult
    sustained: list[SustainedResult]
    drain: DrainThroughput
    scaling: list[ScalingPoint]
    relay: RelayThroughput | None = None
    relay_ordering: OrderingCost | None = None


def measure(stack, sizes: PipelineSizes) -> PipelineResults:
    """Every pipeline section on ``stack`` (started, its database migrated); stops the
    stack's runtime and pollers half way (see the module's docstring)."""
    ingest = pipeline.ingest_latency(stack, sizes.ingest_requests)
    sustained = [
        pipeline.sustained_rate(stack, "outbox", sizes.outbox_events, sizes.commit_rows),
        pipeline.sustained_rate(stack, "direct", sizes.direct_events, sizes.commit_rows),
    ]
    stop_delivering(stack)
    stack.create_database(DRAIN_DATABASE)
    stack.migrate(DRAIN_DATABASE)
    drain = drain_throughput.measure(stack, DRAIN_DATABASE, sizes.drain_rows)
    stack.create_database(RELAY_DATABASE)
    stack.migrate(RELAY_DATABASE)
    relay = relay_throughput.measure(stack, RELAY_DATABASE, sizes.relay_events, sizes.relay_rounds)
    ordering = relay_throughput.measure_ordering(
        stack, RELAY_DATABASE, sizes.relay_events, max(sizes.relay_rounds // 2, 1)
    )
    points = scaling.measure(stack, sizes.scaling_rows, DRAIN_DATABASE)
    return PipelineResults(ingest, sustained, drain, points, relay, ordering)


def stop_delivering(stack) -> None:
    """Stop the runtime and the event source pollers (stopping again later is harmless)."""
    for poller in stack.pollers:
        poller.stop()
    stack.runtime.stop()
