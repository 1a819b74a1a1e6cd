"""The ingest path when Aurora cannot reach Lambda (the relay is not deployed, the
triggers' definer lost its Lambda grant). Since revision 0004 the tables the drain writes
deliver through the outbox: the doorbell's failure is swallowed in the trigger, so the
write is stored at once (no batch returns to the queue), and its event is delivered by the
relay's schedule once the link is back, without another insert. Real stack, rows asserted.
(In direct mode the same breakage failed every INSERT: the drain returned the batch to
the queue as during an outage; ``is_retryable_later`` still classifies it so.)"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from functions.drain.processor import RETURNED_TO_THE_QUEUE
from infra.database import grants as db_grants
from infra.local import emulation
from infra.local.stack import APP_DATABASE, APP_USER
from tests.infra.test_drain_lock_conflicts import verdicts
from tests.infra.test_ingest_path import (
    ingest_database,
    order,
    order_key,
    orders_of,
    post,
    queue_counts,
)
from tests.infra.test_outbox_path import Notifications, of_row
from tests.support import invocation_rows, wait_for

__all__ = ["ingest_database"]  # the session fixture, shared with test_ingest_path

_customer_ids = iter(range(900_000, 10**6))  # apart from test_ingest_path's customers
ACCESS_DENIED_INVOKE_LAMBDA = (
    "Access denied; you need (at least one of) the Invoke Lambda privilege(s) for this operation"
)


@dataclass(frozen=True)
class Breakage:
    """A way to make the triggers' lambda_async fail, its undoing, and the error it gives."""

    name: str
    error: str

    def apply(self, root, stack) -> None:
        if self.name == "relay-function-not-deployed":
            emulation.unregister_function(root, stack.relay_name)
        else:
            with root.cursor() as cursor:
                cursor.execute(f"REVOKE AWS_LAMBDA_ACCESS FROM '{APP_USER}'@'%'")

    def undo(self, root, stack) -> None:
        if self.name == "relay-function-not-deployed":
            emulation.register_functions(
                root, {stack.relay_name: stack.resources.function_arns["relay"]}
            )
        else:
            db_grants.grant_lambda_access(root, APP_USER, "%")


BREAKAGES = [
    # Error 1873, as Lambda's 404 through Aurora.
    Breakage("relay-function-not-deployed", "Lambda API returned error: Function not found"),
    # Error 1227: the trigger's definer (the app user, who ran the migrations) lost the role.
    Breakage("trigger-definer-lost-aws-lambda-access", ACCESS_DENIED_INVOKE_LAMBDA),
]


def batches_returned(log: Path, offset: int, error: str) -> int:
    """How many times the drain's log says it returned a batch to the queue for ``error``."""
    return sum(
        1
        for message, text in verdicts(log, offset)
        if message == RETURNED_TO_THE_QUEUE and error in text
    )


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda breakage: breakage.name)
def test_when_aurora_cannot_reach_lambda_the_write_is_stored_and_its_event_delivered_later(
    ingest_database, breakage
):
    stack = ingest_database
    url = stack.resources.queue_urls["ingest"]
    customer = next(_customer_ids)
    key = f"trigger-{breakage.name}-{customer}"
    log = stack.base_dir / "logs" / f"{stack.deployment.resource_name('drain')}.log"
    relay_arn = stack.resources.live_arns["relay"]  # what the trigger's doorbell calls
    root = stack.db.connect_root()
    notifications = Notifications(stack)
    try:
        wait_for(lambda: queue_counts(url) == 0)
        offset = log.stat().st_size
        rings_before = len(doorbells(root, relay_arn))
        breakage.apply(root, stack)
        try:
            assert post(stack, "/orders", order(customer), key=key)[0] == 202
            rows = wait_for(lambda: orders_of(stack, [customer]), timeout=30)
            wait_for(lambda: queue_counts(url) == 0)
            assert batches_returned(log, offset, breakage.error) == 0
            # The doorbell failed inside the trigger: no call reached the runtime.
            assert len(doorbells(root, relay_arn)) == rings_before
        finally:
            breakage.undo(root, stack)
        seen = notifications.until(lambda events: of_row(events, "orders", "customer_id", customer))
    finally:
        root.close()
    stored = order_key(customer, key)  # the key as the drain stores it, scoped
    assert [k for _, k, _ in rows] == [stored]
    assert [k for _, k, _ in orders_of(stack, [customer])] == [stored]  # exactly once
    (event,) = of_row(seen, "orders", "customer_id", customer)
    assert event["delivery"] == "outbox" and event["row"]["id"] == rows[0][2]


def doorbells(root, relay_arn) -> list[dict]:
    return [row for row in invocation_rows(root, APP_DATABASE) if row["function_arn"] == relay_arn]
