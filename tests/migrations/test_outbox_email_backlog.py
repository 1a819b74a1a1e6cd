"""A backlog for a slow target: one 2,000-row INSERT into a table whose outbox trigger
targets `email`, SES slowed to 50 ms (and 150 ms) a SendEmail call. Every email is sent
exactly once and none is parked: the relay cuts `email`'s batches by the catalog's limits
(read from the relay's own resolved environment) and the email function stops before
its deadline, naming the events it did not attempt, which go out in the next invocation.

Time is simulated: the relay runs in-process (as its handler runs it, with ``time_left``
and ``clock``) and invokes the email handler in-process with a Lambda context whose
remaining time reads the same fake clock; each SendEmail, sent to moto's SES by the real
client, advances that clock. 2,000 real 50 ms calls would take 100 s."""

import importlib
import json
from collections import Counter

import pytest

from functions.common.event_batches import batch_request
from functions.email.messages import event_from_body
from functions.relay.outbox import OutboxStore
from functions.relay.runs import run_relay
from infra.catalog import BATCH_SECONDS, RELAY_TIMEOUT_SECONDS, function_spec
from infra.local.inspect import sent_emails
from migrations.lambda_trigger import LambdaTrigger
from tests.support import ClockedContext, FakeClock

ROWS = 2000


class TimedOut(BaseException):
    """The function's time is up: not an error it could catch and report."""


@pytest.fixture
def email(stack, monkeypatch):
    """The email function's handler module, loaded with the stack's sender."""
    monkeypatch.setenv("EMAIL_FROM", stack.deployment.email_from)
    monkeypatch.setenv("EMAIL_TO", "backlog@example.com")
    import functions.email.handler as module

    return importlib.reload(module)


def outbox_counts(database) -> tuple:
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), SUM(delivered_at IS NOT NULL), SUM(parked_at IS NOT NULL), "
            "MIN(attempts), MAX(attempts), COUNT(last_error) FROM aurora_events_outbox"
        )
        return tuple(int(value) for value in cursor.fetchone())


@pytest.mark.parametrize("send_seconds", [0.05, 0.15], ids=["50ms", "150ms"])
def test_a_2000_row_insert_for_email_sends_each_email_once(
    things, run_ops, relay_arn, stack, email, send_seconds
):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(
        lambda op: op.create_lambda_trigger(
            LambdaTrigger("things", "email", ("id", "name"), delivery="outbox", template_version=2)
        )
    )
    with things.connect().cursor() as cursor:  # one statement, 2,000 outbox rows
        cursor.execute(f"INSERT INTO things (name) SELECT CONCAT('row ', seq) FROM seq_1_to_{ROWS}")

    clock = FakeClock()
    target = stack.resources.live_arns["email"]
    spec = function_spec("email")
    batches, unattempted, running = [], [], []

    def send_email_takes_time(**_):
        clock.advance(send_seconds)
        if running[-1].get_remaining_time_in_millis() == 0:
            raise TimedOut  # Lambda stops the function; what it sent stays sent

    email.ses.meta.events.register("before-call.ses.SendEmail", send_email_takes_time)

    def invoke(function, events):
        """What the relay's invoke_target and Lambda do, in-process: JSON both ways, and
        the function stopped when its time is up."""
        assert function == target
        batches.append(len(events))
        request = json.loads(json.dumps(batch_request(events)))
        running.append(
            ClockedContext(clock, spec.timeout_seconds, stack.deployment.resource_name("email"))
        )
        try:
            answer = json.loads(json.dumps(email.handler(request, running[-1])))
        except TimedOut:
            raise TimeoutError(f"Task timed out after {spec.timeout_seconds} seconds") from None
        unattempted.append(len(answer["unattempted"]))
        return answer

    # The relay's settings from its environment as the catalog resolved it for the stack:
    # RELAY_TARGET_LIMITS and the prefix that makes `target` the catalog's `email`.
    from functions.relay.handler import settings_from_env

    settings = settings_from_env(stack.resources.function_environments["relay"])
    runs = []
    for _ in range(10):  # as the schedule would: a run ends with a lease's time left
        relay = ClockedContext(clock, RELAY_TIMEOUT_SECONDS)
        runs.append(
            run_relay(
                OutboxStore(things.connect()),
                invoke,
                settings,
                time_left=lambda relay=relay: relay.get_remaining_time_in_millis() / 1000,
                clock=clock,
            )
        )
        if runs[-1].claimed == 0:
            break

    mine = [
        event
        for event in (event_from_body(sent["body"]) for sent in sent_emails(stack.aws.endpoint_url))
        if event["database"] == things.name
    ]
    assert len(mine) == ROWS
    assert Counter(event["event_id"] for event in mine).most_common(1)[0][1] == 1
    assert sorted(event["row"]["id"] for event in mine) == list(range(1, ROWS + 1))
    # Every row delivered with one attempt, none parked, no error left.
    assert outbox_counts(things) == (ROWS, ROWS, 0, 1, 1, 0)
    assert sum(run.parked + run.retried for run in runs) == 0
    assert max(batches) == spec.batch_limits.events  # the catalog's limit, not the relay's 1,000
    assert sum(batches) - sum(unattempted) == ROWS  # each event attempted once
    if send_seconds * spec.batch_limits.events > BATCH_SECONDS:
        assert max(unattempted) > 0  # 150 ms: the deadline stopped full batches
    else:
        assert sum(unattempted) == 0  # 50 ms: the limit alone keeps a batch in time
