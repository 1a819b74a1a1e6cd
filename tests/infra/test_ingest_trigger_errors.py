"""The ingest path when a trigger's Lambda call fails (the function is not deployed, the
trigger's definer lost its Lambda grant): the database cannot take the write now, so the
drain returns the batch to the queue as during an outage (not toward the DLQ as bad data),
and the write is stored once when the call works again. Real stack, rows asserted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.database import grants as db_grants
from infra.local import emulation
from infra.local.stack import APP_USER
from tests.infra.test_ingest_path import ingest_database, order, orders_of, post, queue_counts
from tests.support import wait_for

__all__ = ["ingest_database"]  # the session fixture, shared with test_ingest_path

_customer_ids = iter(range(900_000, 10**6))  # apart from test_ingest_path's customers
RETURNED_TO_THE_QUEUE = "database unavailable; batch returns to the queue"
ACCESS_DENIED_INVOKE_LAMBDA = (
    "Access denied; you need (at least one of) the Invoke Lambda privilege(s) for this operation"
)


@dataclass(frozen=True)
class Breakage:
    """A way to make the triggers' lambda_async fail, its undoing, and the error it gives."""

    name: str
    error: str

    def apply(self, root, stack) -> None:
        if self.name == "notify-function-not-deployed":
            emulation.unregister_function(root, stack.deployment.resource_name("notify"))
        else:
            with root.cursor() as cursor:
                cursor.execute(f"REVOKE AWS_LAMBDA_ACCESS FROM '{APP_USER}'@'%'")

    def undo(self, root, stack) -> None:
        if self.name == "notify-function-not-deployed":
            emulation.register_functions(
                root,
                {stack.deployment.resource_name("notify"): stack.resources.function_arns["notify"]},
            )
        else:
            db_grants.grant_lambda_access(root, APP_USER, "%")


BREAKAGES = [
    # Error 1873, as Lambda's 404 through Aurora.
    Breakage("notify-function-not-deployed", "Lambda API returned error: Function not found"),
    # Error 1227: the trigger's definer (the app user, who ran the migrations) lost the role.
    Breakage("trigger-definer-lost-aws-lambda-access", ACCESS_DENIED_INVOKE_LAMBDA),
]


def batches_returned(log: Path, offset: int, error: str) -> int:
    """How many times the drain's log says it returned a batch to the queue for ``error``."""
    count = 0
    with log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # not one of Powertools' JSON lines
            if (
                isinstance(entry, dict)
                and entry.get("message") == RETURNED_TO_THE_QUEUE
                and error in str(entry.get("error"))
            ):
                count += 1
    return count


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda breakage: breakage.name)
def test_a_failing_trigger_lambda_call_keeps_the_write_queued_until_it_works(
    ingest_database, breakage
):
    stack = ingest_database
    url, dlq = stack.resources.queue_urls["ingest"], stack.resources.queue_urls["ingest-dlq"]
    customer = next(_customer_ids)
    key = f"trigger-{breakage.name}-{customer}"
    log = stack.base_dir / "logs" / f"{stack.deployment.resource_name('drain')}.log"
    # Each failed receive holds the message for the visibility timeout; after 10 receives
    # (maxReceiveCount) it would move to the DLQ. 2 s here: 20 s of tolerance for the
    # 3 attempts watched, instead of the test stack's 10 s.
    pollers = [p for p in stack.pollers if p.queue_url == url]
    saved = [p.visibility_seconds for p in pollers]
    root = stack.db.connect_root()
    try:
        for poller in pollers:
            poller.visibility_seconds = 2.0
        wait_for(lambda: queue_counts(url) == 0)
        dead_letters_before = queue_counts(dlq)
        offset = log.stat().st_size
        breakage.apply(root, stack)
        try:
            assert post(stack, "/orders", order(customer), key=key)[0] == 202
            wait_for(lambda: batches_returned(log, offset, breakage.error) >= 3, timeout=30)
            assert orders_of(stack, [customer]) == ()
            assert queue_counts(url) == 1  # still in the ingest queue...
            assert queue_counts(dlq) == dead_letters_before  # ...and not in the DLQ
        finally:
            breakage.undo(root, stack)
        rows = wait_for(lambda: orders_of(stack, [customer]), timeout=30)
        wait_for(lambda: queue_counts(url) == 0)
    finally:
        for poller, seconds in zip(pollers, saved, strict=True):
            poller.visibility_seconds = seconds
        root.close()
    assert [k for _, k, _ in rows] == [key]
    assert [k for _, k, _ in orders_of(stack, [customer])] == [key]  # exactly once
    assert queue_counts(dlq) == dead_letters_before
