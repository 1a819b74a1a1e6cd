"""UPDATE cost of the change triggers (``make bench``; alone: ``--only updates``): seconds to update
every row of a table with no trigger, with a direct UPDATE trigger (direct text 2:
``lambda_async`` per changed row) and with an outbox one (outbox text 4: an outbox row
and its ordering key per changed row), in statements of 1 and 1,000 rows, the modes in
turn each round; and the latency from an UPDATE's commit to its SNS notification in
each mode (outbox: the example schema's ``orders``, revision 0009; direct: a table of
the section's own), on the local stack with its runtime running."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, pool

from functions.common.database import connect, parse_database_url
from infra.bench.inserts import create_ordered_outbox
from infra.bench.latency import LatencyResult, arrival_times, summary
from infra.bench.report import RESULTS_DIR
from infra.bench.timing import timed
from infra.local import emulation
from infra.local.inspect import receive_notifications
from migrations.lambda_trigger import LambdaTrigger

MODES = ("none", "direct", "outbox")
STATEMENT_SIZES = (1, 1000)
COLUMNS = ("id", "customer_name", "feedback")


@dataclass(frozen=True)
class UpdateResult:
    mode: str
    rows_per_statement: int
    rows: int
    seconds: list[float]  # one per round
    invocations: int  # lambda_async calls the updates made (direct: per row; outbox: doorbell)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)


def prepare(database_url: str, rows: int) -> None:
    """The outbox (with revision 0008's ordering key) and one table per mode
    (``upd_none``, ``upd_direct``, ``upd_outbox``) of ``rows`` rows; the trigger modes
    fire on UPDATE and call ``notify``."""
    engine = create_engine(parse_database_url(database_url).url(), poolclass=pool.NullPool)
    with engine.begin() as connection:
        operations = create_ordered_outbox(connection)
        for mode in MODES:
            connection.exec_driver_sql(
                f"CREATE TABLE upd_{mode} (id BIGINT PRIMARY KEY, "
                "customer_name VARCHAR(200), feedback TEXT)"
            )
            connection.exec_driver_sql(
                f"INSERT INTO upd_{mode} SELECT seq, 'bench', REPEAT('x', 200) FROM seq_1_to_{rows}"
            )
            if mode != "none":
                operations.create_lambda_trigger(
                    LambdaTrigger.declare(
                        f"upd_{mode}", "notify", COLUMNS, delivery=mode, operations=("UPDATE",)
                    )
                )
    engine.dispose()


def measure(
    database_url: str, admin, database: str, rows: int, rounds: int = 3
) -> list[UpdateResult]:
    """Update every one of ``rows`` rows per mode and statement size, ``rounds`` times in
    turn (each update changes a carried column, so each row sends an event); the local
    runtime must be stopped (delivering would compete with updating)."""
    connection = connect(parse_database_url(database_url))
    seconds = {(mode, size): [] for size in STATEMENT_SIZES for mode in MODES}
    calls = dict.fromkeys(seconds, 0)
    try:
        for number in range(rounds):
            for size in STATEMENT_SIZES:
                for mode in MODES:
                    value = f"round {number} size {size}"
                    before = _calls(admin, database)
                    seconds[(mode, size)].append(
                        timed(lambda m=mode, s=size, v=value: _update(connection, m, rows, s, v))
                    )
                    calls[(mode, size)] += _calls(admin, database) - before
                    if mode == "outbox":
                        with connection.cursor() as cursor:
                            cursor.execute("DELETE FROM aurora_events_outbox")
    finally:
        connection.close()
    return [
        UpdateResult(mode, size, rows, seconds[(mode, size)], calls[(mode, size)] // rounds)
        for (mode, size) in seconds
    ]


def _update(connection, mode: str, rows: int, per_statement: int, value: str) -> None:
    with connection.cursor() as cursor:
        for start in range(1, rows + 1, per_statement):
            cursor.execute(
                f"UPDATE upd_{mode} SET customer_name = %s WHERE id BETWEEN %s AND %s",
                (value, start, start + per_statement - 1),
            )


def _calls(admin, database: str) -> int:
    return sum(emulation.event_call_counts(admin, database).values())


# The direct mode's latency table: none of the example schema's tables has a direct
# UPDATE trigger, so the section adds one to the stack's database for its run.
DIRECT_LATENCY_TABLE = "bench_direct_updates"


def measure_latency(stack, events: int, spacing_seconds: float = 0.1) -> list[LatencyResult]:
    """Commit → SNS for ``events`` UPDATEs in each mode, one row a commit, a little apart:
    outbox on the example schema's ``orders`` (revision 0009), direct on a table of its own
    with a direct UPDATE trigger; the stack migrated, its runtime running."""
    prepare_direct_latency(stack)
    results = [
        _latency(stack, "outbox UPDATE", _insert_orders, "orders", events, spacing_seconds),
        _latency(
            stack,
            "direct UPDATE",
            _insert_direct_rows,
            DIRECT_LATENCY_TABLE,
            events,
            spacing_seconds,
        ),
    ]
    return [result for result in results if result is not None]


def prepare_direct_latency(stack) -> None:
    """The direct mode's table and its UPDATE trigger (direct text 2, to ``notify``),
    created by the migration account: the triggers' definer, allowed to invoke Lambda."""
    engine = create_engine(parse_database_url(stack.database_url()).url(), poolclass=pool.NullPool)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {DIRECT_LATENCY_TABLE} (id BIGINT PRIMARY KEY, status VARCHAR(20))"
        )
        Operations(MigrationContext.configure(connection)).create_lambda_trigger(
            LambdaTrigger.declare(
                DIRECT_LATENCY_TABLE,
                "notify",
                ("id", "status"),
                delivery="direct",
                operations=("UPDATE",),
            )
        )
    engine.dispose()


def _insert_orders(cursor, events: int) -> int:
    cursor.execute(
        "INSERT INTO orders (customer_id, amount, currency) "
        f"SELECT seq, 1, 'EUR' FROM seq_1_to_{events}"
    )
    return cursor.lastrowid


def _insert_direct_rows(cursor, events: int) -> int:
    cursor.execute(
        f"INSERT INTO {DIRECT_LATENCY_TABLE} (id, status) "
        f"SELECT seq, 'placed' FROM seq_1_to_{events}"
    )
    return 1


def _latency(
    stack, mode: str, insert, table: str, events: int, spacing_seconds: float
) -> LatencyResult | None:
    """Insert ``events`` rows (``insert``: the first id), let their INSERT events go out,
    then update each row, one a commit; commit → SNS of each UPDATE's notification."""
    connection = connect(stack.app_settings())
    committed: dict[int, float] = {}
    try:
        with connection.cursor() as cursor:
            first = insert(cursor, events)
        time.sleep(3)  # let the INSERTs' events (orders notifies on INSERT) go out first
        receive_notifications(stack.tail_queue_url)
        for row_id in range(first, first + events):
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {table} SET status = 'shipped' WHERE id = %s", (row_id,))
            committed[row_id] = time.time()
            time.sleep(spacing_seconds)
    finally:
        connection.close()
    arrived = arrival_times(
        stack.tail_queue_url,
        committed,
        lambda event: (
            event["primary_key"].get("id")
            if event["operation"] == "UPDATE" and event["table"] == table
            else None
        ),
    )
    delays = [arrived[k] - committed[k] for k in committed if k in arrived]
    return summary(mode, events, delays)


def ratios(results: list[UpdateResult]) -> dict[tuple[str, int], float]:
    """Each result's median time over no trigger's at the same statement size."""
    base = {r.rows_per_statement: r.median_seconds for r in results if r.mode == "none"}
    return {
        (r.mode, r.rows_per_statement): r.median_seconds / base[r.rows_per_statement]
        for r in results
    }


def lines(results: list[UpdateResult], latencies: list[LatencyResult]) -> list[str]:
    """The section's report: each mode's median time and its ratio to no trigger."""
    out = ["UPDATE cost (every row updated, median of rounds; ratio to no trigger)"]
    ratio_of = ratios(results)
    for size in STATEMENT_SIZES:
        for result in (r for r in results if r.rows_per_statement == size):
            ratio = ratio_of[(result.mode, size)]
            out.append(
                f"  {size:>5} row(s)/statement  {result.mode:<7} "
                f"{result.median_seconds:7.3f} s  {ratio:5.2f}x"
                f"  lambda_async calls {result.invocations}"
            )
    for latency in latencies:
        out.append(
            f"commit -> SNS, {latency.mode}: p50 {latency.p50:.3f} s, p95 {latency.p95:.3f} s, "
            f"p99 {latency.p99:.3f} s ({latency.received}/{latency.events} received)"
        )
    return out


def document_of(results: list[UpdateResult], latencies: list[LatencyResult]) -> dict:
    """The section as ``results.json`` keeps it (``updates``)."""
    ratio_of = ratios(results)
    return {
        "statements": [
            {
                **asdict(r),
                "median_seconds": r.median_seconds,
                "ratio_to_no_trigger": ratio_of[(r.mode, r.rows_per_statement)],
            }
            for r in results
        ],
        "commit_to_sns_seconds": [asdict(r) for r in latencies],
    }


def write(
    results: list[UpdateResult], latencies: list[LatencyResult], directory: Path = RESULTS_DIR
) -> Path:
    """Add the section to ``results.json`` (as ``updates``); its path."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "results.json"
    document = json.loads(json_path.read_text()) if json_path.exists() else {}
    document["updates"] = document_of(results, latencies)
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    return json_path
