"""INSERT cost of the delivery modes: rows/s inserting into a table with no trigger, a
direct trigger (lambda_async per row) and an outbox trigger, in statements of 1, 10 and
1,000 rows; the Lambda invocations each mode made from the database; and a projection for
Aurora from the invocation count (~35 ms per in-trigger call, published measurements)."""

from __future__ import annotations

from dataclasses import dataclass

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, pool

from functions.common.database import connect, parse_database_url
from infra.bench.timing import timed
from infra.local import emulation
from migrations.lambda_trigger import LambdaTrigger

MODES = ("none", "direct", "outbox")
STATEMENT_SIZES = (1, 10, 1000)
AURORA_SECONDS_PER_CALL = 0.035  # a projection, not a measurement
COLUMNS = ("id", "customer_name", "feedback")


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
    outbox; both trigger modes call ``notify``."""
    engine = create_engine(parse_database_url(database_url).url(), poolclass=pool.NullPool)
    with engine.begin() as connection:
        operations = Operations(MigrationContext.configure(connection))
        operations.create_event_outbox()
        for mode in MODES:
            connection.exec_driver_sql(
                f"CREATE TABLE bench_{mode} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                "customer_name VARCHAR(200), feedback TEXT)"
            )
            if mode != "none":
                operations.create_lambda_trigger(
                    LambdaTrigger(f"bench_{mode}", "notify", COLUMNS, delivery=mode)
                )
    engine.dispose()


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


def _insert(connection, mode: str, rows: int, per_statement: int) -> None:
    values = ("bench", "x" * 200)
    with connection.cursor() as cursor:
        for start in range(0, rows, per_statement):
            count = min(per_statement, rows - start)
            cursor.execute(
                f"INSERT INTO bench_{mode} (customer_name, feedback) VALUES "
                + ", ".join(["(%s, %s)"] * count),
                values * count,
            )


def _calls(admin, database: str) -> int:
    return sum(emulation.event_call_counts(admin, database).values())
