"""The pipeline sections' output (:mod:`infra.bench.pipeline_sections`): their lines of
the table on stdout, their part of ``results.json`` (``pipeline``) and a chart of their
own, ``pipeline.png``, next to :mod:`infra.bench.report`'s."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from infra.bench.pipeline import WINDOW_EVENTS
from infra.bench.pipeline_sections import PipelineResults
from infra.bench.relay_throughput import (
    ANCHOR,
    ORDERING_MODES,
    TARGET_ONE_RELAY,
    TARGET_ORDERED_OVER_UNORDERED,
    TARGET_TWO_OVER_ONE,
    OrderingCost,
    RelayThroughput,
    spread,
)
from infra.bench.report import RESULTS_DIR
from infra.bench.scaling import SCALING_STATEMENT_SIZE, slope


def table(results: PipelineResults) -> str:
    """What ``make bench`` prints for :mod:`infra.bench.pipeline_sections`."""
    ingest, drain = results.ingest, results.drain
    lines = [
        "end to end on the local stack: POST /orders to its row in the database (seconds):",
        f"  p50 {ingest.p50:6.3f}  p95 {ingest.p95:6.3f}  p99 {ingest.p99:6.3f}  "
        f"({ingest.stored} of {ingest.requests} requests, one at a time)",
        "sustained rate of the local pipeline (rows committed 100 a time as fast as they go;"
        " delivered notifications/s):",
    ]
    for r in results.sustained:
        windows = " ".join(f"{rate:.0f}" for rate in r.window_rates)
        lines += [
            f"  {r.mode:7} {r.delivered:6} of {r.events} delivered, {r.received} at the "
            f"subscriber, {r.events_per_second:6.1f}/s overall; first/last window "
            f"{r.first_to_last:.2f}x (target: within 2x)"
            + f"; {r.lock_conflicts} INSERT(s) met a lock conflict (target: 0)",
            f"          per ~{WINDOW_EVENTS:,} events: {windows}",
        ]
    lines += [
        f"drain throughput, SQS batches of 10 ({drain.rows} rows each way, rows/s):",
        f"  the drain's handler                 {drain.handler_rows_per_second:9.0f}",
        f"  the limit: 10-row INSERTs           {drain.limit_rows_per_second:9.0f}  "
        f"handler {drain.of_the_limit:.2f}x of it (target: 0.8x)",
    ]
    if drain.over_naive is not None:
        lines.append(
            f"  naive: one row a transaction        {drain.naive_rows_per_second:9.0f}  "
            f"handler {drain.over_naive:.2f}x of it (target: 5x)"
        )
    if drain.of_its_statements is not None:
        lines.append(
            f"  its own statements alone            {drain.statements_rows_per_second:9.0f}  "
            f"handler {drain.of_its_statements:.2f}x of it (SELECT of stored keys + INSERT)"
        )
    if results.relay is not None:
        lines += relay_lines(results.relay)
    if results.relay_ordering is not None:
        lines += ordering_lines(results.relay_ordering)
    lines.append(
        f"scaling: cost per row (microseconds; inserts {SCALING_STATEMENT_SIZE} rows a "
        "statement, the drain in batches of 10):"
    )
    names = [f"insert {r.mode}" for r in results.scaling[0].inserts] + [
        "drain handler",
        "drain limit",
    ]
    lines.append("  " + f"{'rows':>8}" + "".join(f"{name:>16}" for name in names))
    for point in results.scaling:
        costs = list(point.insert_microseconds_per_row().values()) + list(
            point.drain_microseconds_per_row().values()
        )
        lines.append("  " + f"{point.rows:8}" + "".join(f"{cost:16.1f}" for cost in costs))
    slopes = slope(results.scaling)
    lines.append(
        "  "
        + f"{'slope':>8}"
        + "".join(f"{slopes[name]:15.2f}x" for name in names)
        + f"  (per-row cost at {results.scaling[-1].rows:,} over {results.scaling[0].rows:,})"
    )
    return "\n".join(lines)


def relay_lines(relay: RelayThroughput) -> list[str]:
    """The relay throughput's part of the table."""
    lines = [
        f"outbox relay throughput: a target that answers at once, default claims, "
        f"{relay.events:,}-event backlogs, {len(relay.one)} round(s) (events/s, median "
        "and range):"
    ]
    for name, runs, median, target in (
        ("one relay", relay.one, relay.one_per_second, f"target {TARGET_ONE_RELAY:,.0f}"),
        (
            "two relays",
            relay.two,
            relay.two_per_second,
            f"{relay.two_over_one:.2f}x one (target {TARGET_TWO_OVER_ONE}x)",
        ),
    ):
        low, high = spread(runs)
        lines.append(f"  {name:10} {median:9.0f}  ({low:.0f}-{high:.0f}; {target})")
    relay_us, server_us = relay.one_relay_microseconds
    if server_us is not None:
        lines.append(
            f"  one relay's cost per event: relay CPU {relay_us:.1f} us + server CPU "
            f"{server_us:.1f} us, taken in turn: at most {relay.one_relay_bound:,.0f}/s "
            "on an idle machine"
        )
    one_waits, one_seconds = relay.lock_waits(relay.one)
    two_waits, two_seconds = relay.lock_waits(relay.two)
    lines.append(
        f"  row lock waits a run (medians): one relay {one_waits:.0f} ({one_seconds:.2f} s), "
        f"two relays {two_waits:.0f} ({two_seconds:.2f} s)"
    )
    lines.append(f"  anchor: {ANCHOR}")
    if not relay.delivered_once:
        lines.append("  NOT every event delivered exactly once: see results.json")
    return lines


def ordering_lines(cost: OrderingCost) -> list[str]:
    """The ordered claim's cost: the same relay with and without it (events/s, medians)."""
    rounds = len(next(iter(cost.runs.values()))[1])
    lines = [
        f"outbox relay, per-row order ({cost.events:,}-event backlogs, {rounds} round(s); "
        f"events/s, median and range; ratio to the unordered claim, target "
        f"{TARGET_ORDERED_OVER_UNORDERED}x; CPU an event, relays' and server's, over the "
        "unordered claim's):"
    ]
    for name, _, _ in ORDERING_MODES:
        cells = []
        for relays in (1, 2):
            low, high = spread(cost.runs[name][relays])
            cpu = cost.cpu_over_unordered(name, relays)
            cells.append(
                f"{relays} relay(s) {cost.per_second(name, relays):7.0f} ({low:.0f}-{high:.0f}) "
                f"{cost.over_unordered(name, relays):.2f}x, CPU "
                + ("?" if cpu is None else f"{cpu:.2f}x")
            )
        lines.append(f"  {name:34} " + "; ".join(cells))
    if not cost.delivered_once:
        lines.append("  NOT every event delivered exactly once: see results.json")
    return lines


def ordering_document(cost: OrderingCost) -> dict:
    """The ordered claim's cost as JSON (``pipeline.relay_ordering``)."""
    return {
        "events": cost.events,
        "modes": {
            name: {
                str(relays): {
                    "events_per_second": cost.per_second(name, relays),
                    "over_unordered": cost.over_unordered(name, relays),
                    "cpu_microseconds_per_event": cost.cpu_per_event(name, relays),
                    "cpu_over_unordered": cost.cpu_over_unordered(name, relays),
                    "runs": [run.events_per_second for run in cost.runs[name][relays]],
                }
                for relays in (1, 2)
            }
            for name, _, _ in ORDERING_MODES
        },
        "delivered_once": cost.delivered_once,
        "target_over_unordered": TARGET_ORDERED_OVER_UNORDERED,
    }


def relay_document(relay: RelayThroughput) -> dict:
    """The relay throughput as JSON (``results.json``'s ``pipeline.relay_throughput``)."""

    def run(r) -> dict:
        return {
            **asdict(r),
            "events_per_second": r.events_per_second,
            "delivered_once": r.delivered_once,
            "relay_busy": r.relay_busy,
            "server_busy": r.server_busy,
            "relay_microseconds_per_event": r.relay_microseconds_per_event,
            "server_microseconds_per_event": r.server_microseconds_per_event,
        }

    relay_us, server_us = relay.one_relay_microseconds
    return {
        "events": relay.events,
        "one_relay": [run(r) for r in relay.one],
        "two_relays": [run(r) for r in relay.two],
        "one_relay_events_per_second": relay.one_per_second,
        "two_relays_events_per_second": relay.two_per_second,
        "two_over_one": relay.two_over_one,
        "one_relay_microseconds_per_event": {"relay_cpu": relay_us, "server_cpu": server_us},
        "one_relay_idle_bound_events_per_second": relay.one_relay_bound,
        "median_row_lock_waits": {
            "one_relay": relay.lock_waits(relay.one)[0],
            "two_relays": relay.lock_waits(relay.two)[0],
        },
        "delivered_once": relay.delivered_once,
        "targets": {
            "one_relay_events_per_second": TARGET_ONE_RELAY,
            "two_over_one": TARGET_TWO_OVER_ONE,
        },
        "anchor": ANCHOR,
    }


def document_of(results: PipelineResults) -> dict:
    """The pipeline sections as JSON (``results.json``'s ``pipeline``)."""
    drain = results.drain
    return {
        "ingest_to_row_seconds": asdict(results.ingest),
        "sustained": [
            {
                **asdict(r),
                "events_per_second": r.events_per_second,
                "first_to_last": r.first_to_last,
                "window_events": WINDOW_EVENTS,
            }
            for r in results.sustained
        ],
        "drain_throughput": {
            **asdict(drain),
            "handler_rows_per_second": drain.handler_rows_per_second,
            "limit_rows_per_second": drain.limit_rows_per_second,
            "naive_rows_per_second": drain.naive_rows_per_second,
            "handler_of_the_limit": drain.of_the_limit,
            "handler_over_naive": drain.over_naive,
            "statements_rows_per_second": drain.statements_rows_per_second,
            "handler_of_its_statements": drain.of_its_statements,
        },
        "scaling": {
            "insert_statement_rows": SCALING_STATEMENT_SIZE,
            "points": [
                {
                    "rows": point.rows,
                    "insert_microseconds_per_row": point.insert_microseconds_per_row(),
                    "drain_microseconds_per_row": point.drain_microseconds_per_row(),
                }
                for point in results.scaling
            ],
            "slope": slope(results.scaling),
        },
        **(
            {"relay_throughput": relay_document(results.relay)} if results.relay is not None else {}
        ),
        **(
            {"relay_ordering": ordering_document(results.relay_ordering)}
            if results.relay_ordering is not None
            else {}
        ),
    }


def write(results: PipelineResults, directory: Path = RESULTS_DIR):
    """Add the pipeline sections to ``results.json`` (as ``pipeline``) and draw
    ``pipeline.png``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "results.json"
    document = json.loads(json_path.read_text()) if json_path.exists() else {}
    document["pipeline"] = document_of(results)
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    return json_path, chart(results, directory / "pipeline.png")


def chart(results: PipelineResults, path: Path) -> Path:
    """Four panels: the sustained rate per window, the end-to-end percentiles, the drain's
    rows/s three ways, and the per-row cost by row count; below them, the relay's
    events/s (when measured)."""
    import matplotlib

    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt

    rows = 2 if results.relay is None else 3
    figure = plt.figure(figsize=(11, 4 * rows))
    rates, ingest, drain, scale = (figure.add_subplot(rows, 2, n) for n in range(1, 5))
    for r in results.sustained:
        rates.plot(range(1, len(r.window_rates) + 1), r.window_rates, marker="o", label=r.mode)
    rates.set_xlabel(f"window (~{WINDOW_EVENTS:,} delivered events each)")
    rates.set_ylabel("notifications/s")
    rates.set_ylim(bottom=0)
    rates.set_title("Sustained rate of the local pipeline")
    rates.legend()

    percentiles = {"p50": results.ingest.p50, "p95": results.ingest.p95, "p99": results.ingest.p99}
    ingest.bar(list(percentiles), [value * 1e3 for value in percentiles.values()])
    ingest.set_ylabel("ms")
    ingest.set_title("POST /orders to row in the database")

    ways = {
        "handler": results.drain.handler_rows_per_second,
        "10-row INSERTs\n(limit)": results.drain.limit_rows_per_second,
    }
    if results.drain.naive_rows_per_second:
        ways["a row a\ntransaction"] = results.drain.naive_rows_per_second
    if results.drain.statements_rows_per_second:
        ways["its SELECT +\nINSERT alone"] = results.drain.statements_rows_per_second
    drain.bar(list(ways), list(ways.values()))
    drain.set_ylabel("rows/s")
    drain.set_title("Drain throughput, batches of 10")

    sizes = [point.rows for point in results.scaling]
    for kind, costs in (
        ("insert", lambda point: point.insert_microseconds_per_row()),
        ("drain", lambda point: point.drain_microseconds_per_row()),
    ):
        for name in costs(results.scaling[0]):
            scale.plot(
                sizes,
                [costs(point)[name] for point in results.scaling],
                marker="o",
                label=f"{kind} {name}",
            )
    scale.set_xscale("log")
    scale.set_yscale("log")
    scale.set_xlabel("rows")
    scale.set_ylabel("microseconds per row")
    scale.set_title("Cost per row as the row count grows")
    scale.legend(fontsize="small")
    if results.relay is not None:
        relay_panel(figure.add_subplot(rows, 1, rows), results.relay)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def relay_panel(axes, relay: RelayThroughput) -> None:
    """The relay's events/s: the median of one relay and of two (bars), each round's run
    (dots), and the targets."""
    medians = [relay.one_per_second, relay.two_per_second]
    axes.bar([0, 1], medians, width=0.5, color=["tab:blue", "tab:orange"])
    for position, runs in enumerate((relay.one, relay.two)):
        axes.plot([position] * len(runs), [r.events_per_second for r in runs], "k.", label=None)
    axes.hlines(TARGET_ONE_RELAY, -0.35, 0.35, colors="grey", linestyles="--")
    axes.hlines(
        TARGET_TWO_OVER_ONE * relay.one_per_second, 0.65, 1.35, colors="grey", linestyles="--"
    )
    axes.set_xticks([0, 1])
    axes.set_xticklabels(["one relay", f"two relays ({relay.two_over_one:.2f}x one)"])
    axes.set_ylabel("events/s")
    axes.set_ylim(bottom=0)
    axes.set_title(
        f"Outbox relay throughput, {relay.events:,}-event backlogs (dots: rounds; "
        f"dashed: targets, {TARGET_ONE_RELAY:,.0f}/s and {TARGET_TWO_OVER_ONE}x one)"
    )
