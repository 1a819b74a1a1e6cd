"""The benchmark's output: a table on stdout, a JSON file and a PNG chart of the ratios."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from infra.bench.cold_start import (
    TARGET_OVER_BOTO3_MS,
    ZIP_LIMIT_BYTES,
    ColdStartResult,
)
from infra.bench.inserts import (
    AURORA_SECONDS_PER_CALL,
    DOORBELL_STEPS,
    DOORBELL_TARGET,
    FLOOR_STATEMENT_SIZE,
    FLOOR_STEPS,
    DoorbellResult,
    FloorResult,
    InsertResult,
    doorbell_difference,
    floor_ratios,
)
from infra.bench.latency import LatencyResult

RESULTS_DIR = Path("bench-results")


def insert_ratios(results: list[InsertResult]) -> dict[tuple[str, int], float]:
    """Each mode's time over no trigger's, per statement size."""
    base = {r.rows_per_statement: r.seconds for r in results if r.mode == "none"}
    return {(r.mode, r.rows_per_statement): r.seconds / base[r.rows_per_statement] for r in results}


def cold_start_lines(cold: ColdStartResult) -> list[str]:
    """The cold start's part of the table: per function, its handler's import time over
    boto3's (and how much of it the handler module's own code takes: its clients) and its
    zip, each against its target; the layer's size."""
    lines = [
        "cold start: the handler's import, packages laid out as on Lambda, no bytecode "
        f"written (medians of {cold.interpreters} fresh interpreters, CPU time):",
        f"  import boto3 alone {cold.boto3_ms:.1f} ms ({cold.boto3_wall_ms:.1f} ms wall "
        f"clock); the dependencies layer {cold.layer_bytes / 1024:.0f} KiB",
        f"  function  import ms  over boto3 (target {TARGET_OVER_BOTO3_MS:.0f})  "
        "of it the module's own code  wall ms  "
        f"zip KiB (target < {ZIP_LIMIT_BYTES // 1024})",
    ]
    for f in cold.functions:
        over = "  over target" if f.function in cold.over_target() else ""
        lines.append(
            f"  {f.function:8} {f.import_ms:9.1f}  {f.over_boto3_ms:+21.1f}  "
            f"{f.module_code_ms:26.1f}  {f.wall_ms:7.1f}  {f.zip_bytes / 1024:25.1f}{over}"
        )
    return lines


def doorbell_lines(doorbell: list[DoorbellResult]) -> list[str]:
    """The doorbell section: each step's rows/s and its ratio to no trigger (the median of
    each round's), the doorbells it rang, and text 3 against the target."""
    ratios = floor_ratios(doorbell)
    lines = [
        f"doorbell: {doorbell[0].rows} rows one a statement, one connection a run, "
        f"{len(doorbell[0].seconds)} rounds (median rows/s; median of each round's ratio):"
    ]
    lines += [
        f"  {DOORBELL_STEPS[r.step]:58} {r.rows_per_second:7.0f} rows/s {ratios[r.step]:6.2f}x"
        f"  {r.rings:4} doorbells"
        for r in doorbell
    ]
    over = doorbell_difference(doorbell)
    verdict = "met" if over <= DOORBELL_TARGET else "NOT met"
    lines.append(
        f"  text 3 - text 2, paired in each round: {over:+.2f}x no trigger "
        f"(target: at most +{DOORBELL_TARGET:.1f}x): {verdict}"
    )
    return lines


def table(
    results: list[InsertResult],
    latencies: list[LatencyResult] = (),
    cold_start: ColdStartResult | None = None,
    floor: list[FloorResult] = (),
    doorbell: list[DoorbellResult] = (),
) -> str:
    """What ``make bench`` prints."""
    ratios = insert_ratios(results)
    rows = results[0].rows
    lines = [
        f"INSERT {rows} rows into a watched table (local MariaDB, the emulated lambda_async):",
        "  rows/stmt  mode     rows/s    x no trigger  lambda calls  Aurora projection*",
    ]
    for r in results:
        lines.append(
            f"  {r.rows_per_statement:9}  {r.mode:7} {r.rows_per_second:9.0f}  "
            f"{ratios[(r.mode, r.rows_per_statement)]:11.2f}x  {r.invocations:12}  "
            f"{r.projected_aurora_seconds:8.1f} s in triggers"
        )
    lines += [
        "  * a projection, not a measurement: lambda calls x "
        f"{AURORA_SECONDS_PER_CALL * 1e3:.0f} ms (published per-call cost in a trigger on Aurora).",
    ]
    if floor:
        ratios = floor_ratios(floor)
        lines.append(
            f"floor: {floor[0].rows} rows in {FLOOR_STATEMENT_SIZE}-row statements, "
            f"{len(floor[0].seconds)} rounds (median rows/s; median of each round's ratio):"
        )
        lines += [
            f"  {FLOOR_STEPS[r.step]:52} {r.rows_per_second:9.0f} rows/s {ratios[r.step]:6.2f}x"
            for r in floor
        ]
    if doorbell:
        lines += doorbell_lines(doorbell)
    if latencies:
        lines.append("commit to SNS, local stack (seconds):")
        lines += [
            f"  {r.mode:7} p50 {r.p50:6.3f}  p95 {r.p95:6.3f}  p99 {r.p99:6.3f}  "
            f"({r.received} of {r.events} events; {r.lock_conflicts} INSERT(s) met a lock "
            "conflict, target: 0)"
            for r in latencies
        ]
    if cold_start is not None:
        lines += cold_start_lines(cold_start)
    return "\n".join(lines)


def machine() -> dict:
    """What the figures were measured on: the processor, its CPUs and memory, the system
    and Python (``results.json``'s ``machine``; the performance page prints it)."""
    described = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        described["processor"] = next(
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        )
        memory_kib = int(Path("/proc/meminfo").read_text().split()[1])  # MemTotal, in kB
        described["memory_gib"] = round(memory_kib / 2**20, 1)
    except (OSError, StopIteration, ValueError, IndexError):
        pass  # not Linux: the platform string is what there is
    return described


def write(
    results: list[InsertResult],
    latencies: list[LatencyResult] = (),
    directory: Path = RESULTS_DIR,
    cold_start: ColdStartResult | None = None,
    floor: list[FloorResult] = (),
    doorbell: list[DoorbellResult] = (),
):
    """``results.json`` and ``ratios.png`` under ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ratios = insert_ratios(results)
    document = {
        "machine": machine(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "inserts": [
            {
                **asdict(r),
                "rows_per_second": r.rows_per_second,
                "ratio_to_no_trigger": ratios[(r.mode, r.rows_per_statement)],
                "projected_aurora_seconds": r.projected_aurora_seconds,
            }
            for r in results
        ],
        "commit_to_sns_seconds": [asdict(r) for r in latencies],
        "floor": [
            {
                **asdict(r),
                "median_seconds": r.median_seconds,
                "ratio_to_no_trigger": floor_ratios(floor)[r.step],
            }
            for r in floor
        ],
        "doorbell": [
            {
                **asdict(r),
                "median_seconds": r.median_seconds,
                "ratio_to_no_trigger": floor_ratios(doorbell)[r.step],
            }
            for r in doorbell
        ],
        "doorbell_text3_minus_text2": doorbell_difference(doorbell) if doorbell else None,
    }
    if cold_start is not None:
        document["cold_start"] = {
            **asdict(cold_start),
            "targets": {"over_boto3_ms": TARGET_OVER_BOTO3_MS, "zip_bytes_below": ZIP_LIMIT_BYTES},
            "over_target": cold_start.over_target(),
        }
    json_path = directory / "results.json"
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    return json_path, chart(results, directory / "ratios.png")


def chart(results: list[InsertResult], path: Path) -> Path:
    """Bars: each mode's INSERT time over no trigger's, per statement size (log scale)."""
    import matplotlib

    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt

    ratios = insert_ratios(results)
    sizes = sorted({r.rows_per_statement for r in results})
    modes = [m for m in ("none", "direct", "outbox") if any(r.mode == m for r in results)]
    figure, axes = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(modes)
    for index, mode in enumerate(modes):
        axes.bar(
            [n + index * width for n in range(len(sizes))],
            [ratios[(mode, size)] for size in sizes],
            width,
            label=mode,
        )
    axes.set_xticks([n + width * (len(modes) - 1) / 2 for n in range(len(sizes))])
    axes.set_xticklabels([f"{size} row(s)/statement" for size in sizes])
    axes.set_yscale("log")
    axes.set_ylabel("INSERT time / no trigger")
    axes.set_title("Cost of a watched table's INSERT, by delivery mode")
    axes.axhline(1.5, color="grey", linestyle="--", linewidth=0.8, label="1.5x target")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
