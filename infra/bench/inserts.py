"""INSERT cost of the delivery modes: rows/s inserting into a table with no trigger, a
direct trigger (lambda_async per row) and an outbox trigger, in statements of 1, 10 and
1,000 rows; the Lambda invocations each mode made from the database; and a projection for
Aurora from the invocation count (~35 ms per in-trigger call, published measurements).

The floor: at 1,000-row statements, what each part of an outbox trigger costs on its own
(running a trigger, writing a second row, building the event), next to both outbox texts,
to show how close to no trigger an outbox row per event can get.

The doorbell: at one row a statement, outbox text 3 (one doorbell for all connections)
next to text 2 (one per connection) and no trigger, rounds in turn: what the shared check
costs where a trigger's fixed cost weighs most."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, pool

import sql
from functions.common.database import connect, parse_database_url
from functions.common.outbox_table import OUTBOX_TABLE
from infra.bench.timing import timed
from infra.local import emulation
from migrations.lambda_trigger import BEST_TEXT, LambdaTrigger, table_columns
from migrations.row_event_sql import payload_expression

MODES = ("none", "direct", "outbox")
STATEMENT_SIZES = (1, 10, 1000)
AURORA_SECONDS_PER_CALL = 0.035  # a projection, not a measurement
COLUMNS = ("id", "customer_name", "feedback")
# The trigger texts a new declaration gets (LambdaTrigger.declare), what head's newest
# revision installs: direct text 2, outbox text 4 (with the row's ordering key).
TEMPLATE_VERSIONS = BEST_TEXT


@dataclass(frozen=True)
class InsertResult:
    mode: str
    rows_per_statement: int
    rows: int
    seconds: float
    invocations: int  # lambda_async calls the inserts made (direct: per row; outbox: doorbell)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def projected_aurora_seconds(self) -> float:
        """The in-statement Lambda calls alone, at ~35 ms each on Aurora."""
        return self.invocations * AURORA_SECONDS_PER_CALL


def prepare(database_url: str) -> None:
    """One table per mode (``bench_none``, ``bench_direct``, ``bench_outbox``) and the
    outbox, with revision 0008's ordering key (outbox text 4 writes it); both trigger
    modes call ``notify``."""
    engine = create_engine(parse_database_url(database_url).url(), poolclass=pool.NullPool)
    with engine.begin() as connection:
        operations = create_ordered_outbox(connection)
        for mode in MODES:
            _create_bench_table(connection, f"bench_{mode}")
            if mode != "none":
                operations.create_lambda_trigger(
                    LambdaTrigger(
                        f"bench_{mode}",
                        "notify",
                        COLUMNS,
                        delivery=mode,
                        template_version=TEMPLATE_VERSIONS[mode],
                    )
                )
    engine.dispose()


def create_ordered_outbox(connection) -> Operations:
    """The outbox with revision 0008's ordering key (outbox text 4 writes it), on
    ``connection``; the Alembic operations on it, for the triggers that follow."""
    operations = Operations(MigrationContext.configure(connection))
    operations.create_event_outbox()
    for statement in sql.render("outbox/add_ordering_key.sql"):
        connection.exec_driver_sql(statement)
    return operations


def _create_bench_table(connection, name: str) -> None:
    connection.exec_driver_sql(
        f"CREATE TABLE {name} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
        "customer_name VARCHAR(200), feedback TEXT)"
    )


def measure(database_url: str, admin, database: str, rows: int) -> list[InsertResult]:
    """Insert ``rows`` rows per mode and statement size; the local runtime must be
    stopped (delivering would compete with inserting)."""
    connection = connect(parse_database_url(database_url))
    results = []
    try:
        for size in STATEMENT_SIZES:
            for mode in MODES:
                before = _calls(admin, database)
                seconds = timed(lambda m=mode, s=size: _insert(connection, m, rows, s))
                results.append(
                    InsertResult(mode, size, rows, seconds, _calls(admin, database) - before)
                )
    finally:
        connection.close()
    return results


def _insert(connection, mode: str, rows: int, per_statement: int, prefix: str = "bench") -> None:
    values = ("bench", "x" * 200)
    with connection.cursor() as cursor:
        for start in range(0, rows, per_statement):
            count = min(per_statement, rows - start)
            cursor.execute(
                f"INSERT INTO {prefix}_{mode} (customer_name, feedback) VALUES "
                + ", ".join(["(%s, %s)"] * count),
                values * count,
            )


def _calls(admin, database: str) -> int:
    return sum(emulation.event_call_counts(admin, database).values())


# -- the floor -----------------------------------------------------------------------

FLOOR_STATEMENT_SIZE = 1000
FLOOR_ROUNDS = 5  # the steps in turn, each round
# Each step inserts into its own table floor_<step>; the ones after "none" each add one
# part of what the outbox trigger does (sql/bench/floor.sql), then the trigger's two texts.
FLOOR_STEPS = {
    "none": "no trigger",
    "empty": "a trigger that does nothing (SET @x = 1)",
    "pk_row": "a trigger inserting a constant row, primary key only",
    "outbox_row": "... a constant row into a copy of the outbox",
    "payload": "a trigger building the event's JSON, no insert",
    "outbox_v1": "the outbox trigger, text 1 (revision 0004)",
    "outbox_v2": "the outbox trigger, text 2 (revision 0005)",
}
# The tables each step writes besides its own, emptied before each of its runs.
FLOOR_SINKS = {
    "pk_row": ("floor_pk_only",),
    "outbox_row": ("floor_outbox_copy",),
    "outbox_v1": (OUTBOX_TABLE,),
    "outbox_v2": (OUTBOX_TABLE,),
}
# Let the server finish dropping the emptied tables' pages before the next timing.
FLOOR_SETTLE_SECONDS = 0.2


@dataclass(frozen=True)
class FloorResult:
    step: str
    rows: int
    seconds: list[float]  # one per round

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.median_seconds


def prepare_floor(database_url: str) -> None:
    """The floor's tables and triggers, in a database :func:`prepare` has set up."""
    engine = create_engine(parse_database_url(database_url).url(), poolclass=pool.NullPool)
    with engine.begin() as connection:
        for step in FLOOR_STEPS:
            _create_bench_table(connection, f"floor_{step}")
        payload = payload_expression(
            "floor_payload",
            COLUMNS,
            ("id",),
            table_columns(connection, "floor_payload"),
            "outbox",
        )
        for statement in sql.render("bench/floor.sql", payload=payload):
            # Straight to the DB-API cursor: no parameters, so '%' in the SQL stays as written.
            connection.connection.cursor().execute(statement)
        operations = Operations(MigrationContext.configure(connection))
        for version in (1, 2):
            operations.create_lambda_trigger(
                LambdaTrigger(
                    f"floor_outbox_v{version}",
                    "notify",
                    COLUMNS,
                    delivery="outbox",
                    template_version=version,
                )
            )
    engine.dispose()


def measure_floor(database_url: str, rows: int, rounds: int = FLOOR_ROUNDS) -> list[FloorResult]:
    """Insert ``rows`` rows in 1,000-row statements per step, ``rounds`` times in turn,
    each time into empty tables."""
    connection = connect(parse_database_url(database_url))
    seconds: dict[str, list[float]] = {step: [] for step in FLOOR_STEPS}
    try:
        for _ in range(rounds):
            for step in FLOOR_STEPS:
                with connection.cursor() as cursor:
                    for table in (f"floor_{step}", *FLOOR_SINKS.get(step, ())):
                        cursor.execute(f"TRUNCATE TABLE {table}")
                time.sleep(FLOOR_SETTLE_SECONDS)
                seconds[step].append(
                    timed(
                        lambda s=step: _insert(connection, s, rows, FLOOR_STATEMENT_SIZE, "floor")
                    )
                )
    finally:
        connection.close()
    return [FloorResult(step, rows, times) for step, times in seconds.items()]


def floor_ratios(results: list[FloorResult]) -> dict[str, float]:
    """Each step's time over no trigger's in the same round, the median over the rounds
    (a round takes seconds: a neighbour's load drifts less within one than across)."""
    base = next(r.seconds for r in results if r.step == "none")
    return {
        r.step: statistics.median(s / b for s, b in zip(r.seconds, base, strict=True))
        for r in results
    }


# -- the doorbell ----------------------------------------------------------------------

DOORBELL_ROUNDS = 10
# Each step inserts into its own table doorbell_<step>, one row a statement.
DOORBELL_STEPS = {
    "none": "no trigger",
    "outbox_v2": "outbox text 2 (revision 0005: a doorbell per connection)",
    "outbox_v3": "outbox text 3 (revision 0006: one for all connections)",
}
DOORBELL_TEXTS = {"outbox_v2": 2, "outbox_v3": 3}  # the steps' trigger text versions
# The target of text 3 against text 2: its ratio to no trigger at most this much above.
DOORBELL_TARGET = 0.1


@dataclass(frozen=True)
class DoorbellResult(FloorResult):
    rings: int = 0  # lambda_async calls to the relay over every round


def prepare_doorbell(database_url: str) -> None:
    """The doorbell section's tables and triggers, in a database :func:`prepare` has set
    up (its outbox)."""
    engine = create_engine(parse_database_url(database_url).url(), poolclass=pool.NullPool)
    with engine.begin() as connection:
        operations = Operations(MigrationContext.configure(connection))
        for step in DOORBELL_STEPS:
            _create_bench_table(connection, f"doorbell_{step}")
        for step, version in DOORBELL_TEXTS.items():
            operations.create_lambda_trigger(
                LambdaTrigger(
                    f"doorbell_{step}",
                    "notify",
                    COLUMNS,
                    delivery="outbox",
                    template_version=version,
                )
            )
    engine.dispose()


def measure_doorbell(
    database_url: str, admin, database: str, rows: int, rounds: int = DOORBELL_ROUNDS
) -> list[DoorbellResult]:
    """Insert ``rows`` rows one a statement per step, ``rounds`` times in turn (every
    other round in reverse order: text 3 follows text 2 as often as it precedes it), each
    time into empty tables on a new connection (the texts' doorbell checks share a session
    variable: each run starts with its own); count the doorbells (the runtime must be
    stopped)."""
    seconds: dict[str, list[float]] = {step: [] for step in DOORBELL_STEPS}
    rings: dict[str, int] = dict.fromkeys(DOORBELL_STEPS, 0)
    for number in range(rounds):
        for step in list(DOORBELL_STEPS)[:: -1 if number % 2 else 1]:
            connection = connect(parse_database_url(database_url))
            try:
                with connection.cursor() as cursor:
                    sinks = (OUTBOX_TABLE,) if step in DOORBELL_TEXTS else ()
                    for table in (f"doorbell_{step}", *sinks):
                        cursor.execute(f"TRUNCATE TABLE {table}")
                time.sleep(FLOOR_SETTLE_SECONDS)
                before = _calls(admin, database)
                seconds[step].append(
                    timed(lambda s=step, c=connection: _insert(c, s, rows, 1, "doorbell"))
                )
                rings[step] += _calls(admin, database) - before
            finally:
                connection.close()
    return [DoorbellResult(step, rows, times, rings[step]) for step, times in seconds.items()]


def doorbell_difference(results: list[DoorbellResult]) -> float:
    """Text 3's cost over text 2's, in times no trigger: the median over the rounds of
    (text 3 - text 2) / no trigger, each round's three runs side by side (a neighbour's
    load drifts less within a round than across rounds)."""
    seconds = {r.step: r.seconds for r in results}
    return statistics.median(
        (v3 - v2) / none
        for v3, v2, none in zip(
            seconds["outbox_v3"], seconds["outbox_v2"], seconds["none"], strict=True
        )
    )
