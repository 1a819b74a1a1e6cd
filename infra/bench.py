"""``make bench``: costs measured side by side in one run, printed as ratios.

1. INSERT with and without a Lambda trigger (the emulated lambda_async), per row.
2. The drain's write: 10 rows in one multi-row transaction vs 10 single-row transactions.

Absolute numbers depend on the machine; the ratios are what to compare between changes.
(On Aurora a lambda_async call costs about 35 ms a row, network-bound; the emulation
measures the database-side work only.)
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from functions.common.database import connect, parse_database_url
from functions.common.queue_messages import QueuedRow
from functions.common.resources import resource_named
from functions.drain.rows import insert_statement
from infra.local.stack import LocalStack, StackSettings

ROWS = 2000
ROUNDS = 5


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_of(action, rounds: int = ROUNDS) -> float:
    return statistics.median(timed(action) for _ in range(rounds))


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    with (
        tempfile.TemporaryDirectory(prefix="aurora-events-bench-") as base,
        LocalStack(Path(base) / "stack", StackSettings()) as stack,
    ):
        stack.migrate()
        connection = connect(parse_database_url(stack.database_url()))
        cursor = connection.cursor()
        cursor.execute("CREATE TABLE plain_feedback LIKE customer_feedback")
        rows = [("bench", "x" * 200)] * ROWS

        def insert_into(table):
            def run():
                cursor.executemany(
                    f"INSERT INTO {table} (customer_name, feedback) VALUES (%s, %s)", rows
                )

            return run

        # Both triggers (notify, email) fire per row on customer_feedback; the runtime
        # is paused so that delivering does not compete with inserting.
        stack.runtime.stop()
        with_trigger = median_of(insert_into("customer_feedback"))
        without = median_of(insert_into("plain_feedback"))
        print(f"INSERT {ROWS} rows, median of {ROUNDS}:")
        print(f"  without trigger           {without * 1e6 / ROWS:8.1f} µs/row")
        print(f"  with 2 lambda_async calls {with_trigger * 1e6 / ROWS:8.1f} µs/row")
        print(f"  ratio                     {with_trigger / without:8.2f}x")

        orders = resource_named("orders")
        counter = iter(range(10**9))

        def batch():
            return [
                QueuedRow(
                    orders,
                    f"bench-{next(counter)}",
                    {"customer_id": 1, "amount": "1.00", "currency": "EUR"},
                )
                for _ in range(10)
            ]

        def one_transaction():
            group = batch()
            connection.begin()
            cursor.execute(
                insert_statement(orders, len(group)),
                [v for row in group for v in row.column_values()],
            )
            connection.commit()

        def ten_transactions():
            for row in batch():
                connection.begin()
                cursor.execute(insert_statement(orders, 1), row.column_values())
                connection.commit()

        multi = median_of(one_transaction, 50)
        single = median_of(ten_transactions, 50)
        print("drain write of a batch of 10, median of 50:")
        print(f"  one multi-row transaction {multi * 1e3:8.2f} ms")
        print(f"  ten single-row ones       {single * 1e3:8.2f} ms")
        print(f"  ratio                     {single / multi:8.2f}x")
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
