"""The drain's write of a batch of 10 queued rows: the drain's own statements (stored
keys, then one multi-row INSERT) in one transaction, against ten single-row transactions
(the naive way)."""

from __future__ import annotations

from dataclasses import dataclass

from functions.common.database import connect, parse_database_url
from functions.common.queue_messages import QueuedRow
from functions.common.resources import resource_named
from functions.drain.rows import insert_statement, write_rows
from infra.bench.timing import median_of


@dataclass(frozen=True)
class DrainResult:
    batch_seconds: float  # the drain's way, one batch of 10
    naive_seconds: float  # ten single-row transactions

    @property
    def ratio(self) -> float:
        return self.naive_seconds / self.batch_seconds


def measure(database_url: str, rounds: int) -> DrainResult:
    connection = connect(parse_database_url(database_url))
    orders = resource_named("orders")
    counter = iter(range(10**9))

    def batch() -> list[QueuedRow]:
        values = {"customer_id": 1, "amount": "1.00", "currency": "EUR"}
        return [QueuedRow(orders, f"bench-{next(counter)}", values) for _ in range(10)]

    def the_drains_way() -> None:
        connection.begin()
        with connection.cursor() as cursor:
            write_rows(cursor, batch())
        connection.commit()

    def naive() -> None:
        with connection.cursor() as cursor:
            for row in batch():
                connection.begin()
                cursor.execute(insert_statement(orders, 1), row.column_values())
                connection.commit()

    try:
        return DrainResult(median_of(the_drains_way, rounds), median_of(naive, rounds))
    finally:
        connection.close()
