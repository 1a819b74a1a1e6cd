"""Scaling: the INSERT cost of the delivery modes (:mod:`infra.bench.inserts`) and the
drain's throughput (:mod:`infra.bench.drain_throughput`) as the row count grows. Each
size's inserts get a fresh database (a size's tables grow from empty to that many rows);
the drain writes every size into one database (its handler keeps the database it read
on first use, as a container does), which only grows. The cost per row should stay flat:
:func:`slope` is the largest size's per-row cost over the smallest's.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

from infra.bench import drain_throughput, inserts
from infra.bench.drain_throughput import DrainThroughput
from infra.bench.inserts import InsertResult

# inserts.measure runs every mode at every statement size and takes no parameter for it
# (its owner's file): narrowed here, for the call, to statements of 10 rows (enough
# statements at 1,000 rows to time; 100,000 rows at every size would take most of ten
# minutes: direct makes a lambda_async call per row).
SCALING_STATEMENT_SIZE = 10


@dataclass(frozen=True)
class ScalingPoint:
    rows: int
    inserts: list[InsertResult]  # one per mode, SCALING_STATEMENT_SIZE rows a statement
    drain: DrainThroughput  # the handler and the limit (no naive way)

    def insert_microseconds_per_row(self) -> dict[str, float]:
        return {r.mode: r.seconds / r.rows * 1e6 for r in self.inserts}

    def drain_microseconds_per_row(self) -> dict[str, float]:
        return {
            "handler": self.drain.handler_seconds / self.rows * 1e6,
            "limit": self.drain.limit_seconds / self.rows * 1e6,
        }


def slope(points: list[ScalingPoint]) -> dict[str, float]:
    """Per-row cost at the largest size over the smallest's, for each insert mode
    (``insert <mode>``) and each drain way (``drain <way>``): 1.0 is flat."""
    first, last = points[0], points[-1]
    ratios = {}
    for kind, costs in (
        ("insert", ScalingPoint.insert_microseconds_per_row),
        ("drain", ScalingPoint.drain_microseconds_per_row),
    ):
        small, large = costs(first), costs(last)
        ratios.update({f"{kind} {name}": large[name] / small[name] for name in small})
    return ratios


@contextmanager
def statement_sizes(sizes: tuple[int, ...]):
    """inserts.measure with only these statement sizes (see SCALING_STATEMENT_SIZE)."""
    with mock.patch.object(inserts, "STATEMENT_SIZES", sizes):
        yield


def measure(stack, sizes: tuple[int, ...], drain_database: str) -> list[ScalingPoint]:
    """One point per row count in ``sizes``; the drain writes into ``drain_database``
    (migrated, the drain's account granted). The stack's runtime must be stopped
    (delivering would compete with inserting)."""
    points = []
    admin = stack.db.connect_root()
    try:
        for rows in sizes:
            insert_database = f"scale_{rows}"
            url = stack.create_database(insert_database)
            inserts.prepare(url)
            with statement_sizes((SCALING_STATEMENT_SIZE,)):
                insert_results = inserts.measure(url, admin, insert_database, rows)
            drain = drain_throughput.measure(stack, drain_database, rows, naive=False)
            points.append(ScalingPoint(rows, insert_results, drain))
    finally:
        admin.close()
    return points
