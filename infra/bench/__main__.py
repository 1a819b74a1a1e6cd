"""``python -m infra.bench [--quick] [--only doorbell]``: see :mod:`infra.bench`."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from infra.bench import (
    cold_start,
    inserts,
    latency,
    pipeline_report,
    pipeline_sections,
    relay_throughput,
    report,
    updates,
)
from infra.local.stack import LocalStack, StackSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fewer rows and interpreters: about a minute"
    )
    parser.add_argument(
        "--only",
        choices=["doorbell", "relay", "updates"],
        help="one section alone: doorbell (outbox text 3 against text 2, one row a "
        "statement), relay (the relay's throughput, and with and without per-row order), "
        "or updates (UPDATE cost of the change triggers, and commit -> SNS for an UPDATE)",
    )
    args = parser.parse_args(argv)
    # --quick: about a minute; its percentiles and rates are rougher, not comparable.
    rows, events, spacing = (2_000, 50, 0.05) if args.quick else (20_000, 500, 0.1)
    doorbell_rows, doorbell_rounds = (2_000, 3) if args.quick else (5_000, inserts.DOORBELL_ROUNDS)
    logging.basicConfig(level=logging.ERROR)
    if args.only == "doorbell":
        doorbell = doorbell_only(doorbell_rows, doorbell_rounds)
        print("\n".join(report.doorbell_lines(doorbell)))
        return 0
    update_sizes = (2_000, 1, 20) if args.quick else (20_000, 3, 200)  # rows, rounds, events
    if args.only == "updates":
        print("\n".join(updates.lines(*updates_only(*update_sizes))))
        return 0
    if args.only == "relay":
        sizes = pipeline_sections.QUICK if args.quick else pipeline_sections.FULL
        relay, ordering = relay_only(sizes)
        lines = pipeline_report.relay_lines(relay) + pipeline_report.ordering_lines(ordering)
        print("\n".join(lines))
        return 0
    # First, while nothing else of the bench runs: fresh interpreters are what it times.
    cold = cold_start.measure(interpreters=3 if args.quick else 20)
    with (
        tempfile.TemporaryDirectory(prefix="aurora-events-bench-") as base,
        LocalStack(Path(base) / "stack", StackSettings()) as stack,
    ):
        stack.migrate()
        latencies = latency.measure(stack, events, spacing)  # with the runtime running
        # The pipeline sections (end to end, sustained rate, drain throughput, scaling);
        # they stop the runtime half way.
        pipeline = pipeline_sections.measure(
            stack, pipeline_sections.QUICK if args.quick else pipeline_sections.FULL
        )
        bench_url = stack.create_database("bench")
        inserts.prepare(bench_url)
        # The floor's ratios mean something at 20,000 rows, not at --quick's 2,000 (where
        # emptying the tables between steps costs as much as the inserts): full runs only.
        floor_wanted = not args.quick
        if floor_wanted:
            inserts.prepare_floor(bench_url)
        # Delivering would compete with inserting for the same two cores.
        inserts.prepare_doorbell(bench_url)
        stack.runtime.stop()
        admin = stack.db.connect_root()
        try:
            insert_results = inserts.measure(bench_url, admin, "bench", rows)
            floor = inserts.measure_floor(bench_url, rows) if floor_wanted else []
            doorbell = inserts.measure_doorbell(
                bench_url, admin, "bench", doorbell_rows, doorbell_rounds
            )
        finally:
            admin.close()
    print(report.table(insert_results, latencies, cold, floor=floor, doorbell=doorbell))
    json_path, chart_path = report.write(
        insert_results, latencies, cold_start=cold, floor=floor, doorbell=doorbell
    )
    print(pipeline_report.table(pipeline))
    json_path, pipeline_chart = pipeline_report.write(pipeline)
    # On a stack of its own: its latency wants a running runtime, its cost a stopped one.
    update_results, update_latencies = updates_only(*update_sizes)
    print("\n".join(updates.lines(update_results, update_latencies)))
    updates.write(update_results, update_latencies)
    print(f"written: {json_path}, {chart_path}, {pipeline_chart}")
    return 0


def relay_only(sizes: pipeline_sections.PipelineSizes):
    """The relay's sections alone, on a stack of its own (its runtime stopped)."""
    with (
        tempfile.TemporaryDirectory(prefix="aurora-events-bench-") as base,
        LocalStack(Path(base) / "stack", StackSettings()) as stack,
    ):
        pipeline_sections.stop_delivering(stack)
        database = pipeline_sections.RELAY_DATABASE
        stack.create_database(database)
        stack.migrate(database)
        relay = relay_throughput.measure(stack, database, sizes.relay_events, sizes.relay_rounds)
        ordering = relay_throughput.measure_ordering(
            stack, database, sizes.relay_events, max(sizes.relay_rounds // 2, 1)
        )
        return relay, ordering


def updates_only(
    rows: int, rounds: int, events: int
) -> tuple[list[updates.UpdateResult], list[latency.LatencyResult]]:
    """The UPDATE section, on a stack of its own: the latency first (its runtime
    running), then the cost (stopped)."""
    with (
        tempfile.TemporaryDirectory(prefix="aurora-events-bench-") as base,
        LocalStack(Path(base) / "stack", StackSettings()) as stack,
    ):
        stack.migrate()
        latencies = updates.measure_latency(stack, events)
        bench_url = stack.create_database("bench")
        updates.prepare(bench_url, rows)
        stack.runtime.stop()
        admin = stack.db.connect_root()
        try:
            results = updates.measure(bench_url, admin, "bench", rows, rounds)
        finally:
            admin.close()
        return results, latencies


def doorbell_only(rows: int, rounds: int) -> list[inserts.DoorbellResult]:
    """The doorbell section alone, on a stack of its own (its runtime stopped)."""
    with (
        tempfile.TemporaryDirectory(prefix="aurora-events-bench-") as base,
        LocalStack(Path(base) / "stack", StackSettings()) as stack,
    ):
        bench_url = stack.create_database("bench")
        inserts.prepare(bench_url)
        inserts.prepare_doorbell(bench_url)
        stack.runtime.stop()
        admin = stack.db.connect_root()
        try:
            return inserts.measure_doorbell(bench_url, admin, "bench", rows, rounds)
        finally:
            admin.close()


if __name__ == "__main__":
    sys.exit(main())
