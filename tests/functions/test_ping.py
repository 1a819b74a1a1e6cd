"""The doctor's probe, ``{"ping": 1}``: the functions Aurora calls answer it ``pong`` and
do nothing else (notify publishes nothing, email sends nothing, the relay claims nothing),
while anything that only resembles a ping is still a row event to reject."""

import importlib
import json
import uuid

import pytest

from functions.common.database import connect, parse_database_url
from functions.common.ping import PING, PING_PAYLOAD, is_ping
from infra.local.inspect import sent_emails
from infra.local.lambda_worker import LambdaContext
from migrations.row_event_sql import create_outbox_statements


def context(name: str) -> LambdaContext:
    return LambdaContext(
        name, f"arn:aws:lambda:us-east-1:123456789012:function:{name}", 30, 256, "r"
    )


def test_exactly_a_ping_is_a_ping():
    assert PING_PAYLOAD == '{"ping": 1}'
    assert is_ping({"ping": 1})
    for other in (
        {"ping": True},  # True == 1 in Python; JSON true is not the probe's 1
        {"ping": 1.0},
        {"ping": "1"},
        {"ping": 1, "table": "orders"},
        {"events": []},
        PING_PAYLOAD,
        [PING],
        None,
    ):
        assert not is_ping(other), other


def count_calls(client) -> list[str]:
    """The names of the operations ``client`` calls from now on."""
    calls: list[str] = []
    client.meta.events.register(
        "before-call.*.*", lambda model, **_: calls.append(model.name), unique_id=str(uuid.uuid4())
    )
    return calls


@pytest.fixture
def notify(stack, monkeypatch):
    monkeypatch.setenv("TOPIC_ARN", stack.resources.topic_arns["notifications"])
    import functions.notify.handler as module

    return importlib.reload(module)


@pytest.fixture
def email(stack, monkeypatch):
    monkeypatch.setenv("EMAIL_FROM", stack.deployment.email_from)
    monkeypatch.setenv("EMAIL_TO", "ping@example.com")
    import functions.email.handler as module

    return importlib.reload(module)


def test_notify_answers_a_ping_and_publishes_nothing(notify):
    calls = count_calls(notify.sns)
    answer = notify.handler(dict(PING), context("aurora-events-notify"))
    assert answer == {"status": "pong", "function": "aurora-events-notify"}
    assert calls == []
    # Not a ping: a row event to reject, as before (and still no SNS call).
    assert notify.handler({"ping": True}, context("aurora-events-notify"))["status"] == "rejected"
    assert calls == []


def test_email_answers_a_ping_and_sends_nothing(email, stack):
    before = len(sent_emails(stack.aws.endpoint_url))
    calls = count_calls(email.ses)
    answer = email.handler(dict(PING), context("aurora-events-email"))
    assert answer == {"status": "pong", "function": "aurora-events-email"}
    assert calls == []
    assert len(sent_emails(stack.aws.endpoint_url)) == before


def test_the_relay_answers_a_ping_without_running(database, monkeypatch):
    with database.connect().cursor() as cursor:
        for statement in create_outbox_statements():
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO aurora_events_outbox (event_id, target_function, payload, created_at, "
            "next_attempt_at) VALUES (%s, 'arn:aws:lambda:us-east-1:123456789012:function:t', "
            "'{}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            (str(uuid.uuid4()),),
        )
    monkeypatch.setenv("DATABASE_URL", database.url)
    import functions.relay.handler as module

    relay = importlib.reload(module)
    calls = count_calls(relay.lambda_client)
    answer = relay.handler(dict(PING), context("aurora-events-relay"))
    assert answer == {"status": "pong", "function": "aurora-events-relay"}
    assert calls == []
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT attempts, delivered_at, parked_at, next_attempt_at <= UTC_TIMESTAMP(6) "
            "FROM aurora_events_outbox"
        )
        assert cursor.fetchall() == ((0, None, None, 1),)  # untouched: still due, unclaimed


@pytest.mark.parametrize("function", ["notify", "email", "relay"])
def test_aurora_s_call_gets_the_pong(stack, function):
    """The probe as the doctor runs it: ``lambda_sync`` from the database (as the migration
    account, which holds the Lambda grant) reaches the function the local runtime runs."""
    connection = connect(parse_database_url(stack.database_url()))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT lambda_sync(%s, %s)",
                (stack.resources.function_arns[function], PING_PAYLOAD),
            )
            (answer,) = cursor.fetchone()
    finally:
        connection.close()
    name = stack.deployment.resource_name(function)
    assert json.loads(answer) == {"status": "pong", "function": name}
