"""Batches sized to what each target can do, against the real server: the catalog's limits
cut a target's invocations (matched by its ARN and the relay's prefix), events a target
did not attempt before its deadline are due again at once without an attempt, a bad
RELAY_TARGET_LIMITS is refused, and the relay never calls a target twice for one batch."""

import importlib
import socket
import threading
import uuid

import pytest
from botocore.exceptions import ReadTimeoutError

from functions.common.config import ConfigurationError
from functions.common.event_batches import BatchAnswer
from functions.relay.runs import run_relay
from functions.relay.target_limits import BatchLimits, catalog_name, encode_limits
from migrations.row_event_sql import create_outbox_statements
from tests.functions.test_relay import FAST, Targets, add_events, store, table


@pytest.fixture
def settings_from_env(stack):
    """The relay's reading of its environment (its module makes a client: the stack's
    region and endpoint first)."""
    from functions.relay.handler import settings_from_env

    return settings_from_env


@pytest.fixture
def outbox(database):
    with database.connect().cursor() as cursor:
        for statement in create_outbox_statements():
            cursor.execute(statement)
    return database


def function_arn(name: str, qualifier: str = "") -> str:
    return f"arn:aws:lambda:eu-west-1:123456789012:function:{name}" + (
        f":{qualifier}" if qualifier else ""
    )


def test_events_a_target_did_not_attempt_are_due_at_once_without_an_attempt_or_error(outbox):
    """The target sends two events of five and stops (its deadline): the two are
    delivered; the three are due now, attempts 0, no error; the next run sends only them."""
    ids = add_events(outbox, 5, targets=("arn:target-a",))
    calls = []

    def stops_after_two(target, events):
        calls.append([event["event_id"] for event in events])
        return BatchAnswer(unattempted=[event["event_id"] for event in events[2:]]).as_dict()

    once = iter([float("inf")])  # one claim, then the run ends
    summary = run_relay(store(outbox), stops_after_two, FAST, time_left=lambda: next(once, 0))
    assert calls == [ids]
    assert (summary.claimed, summary.delivered, summary.retried, summary.parked) == (5, 2, 0, 0)
    rows = table(outbox)
    assert [(row["delivered"], row["attempts"]) for row in rows[:2]] == [(1, 1)] * 2
    for row in rows[2:]:
        assert row == {
            "event_id": row["event_id"],
            "attempts": 0,
            "delivered": 0,
            "parked": 0,
            "last_error": None,
            "waiting": 0,  # due now: no backoff, no lease
        }
    targets = Targets()
    assert run_relay(store(outbox), targets, FAST).delivered == 3
    assert targets.sent() == ids[2:]  # each event sent once in all
    assert [row["attempts"] for row in table(outbox)] == [1] * 5


def test_a_target_that_attempts_none_of_its_events_has_failed_them(outbox):
    """No progress is a failure (retried after the backoff, attempts counted), or a
    target whose reserve exceeds its timeout would be invoked again and again."""
    add_events(outbox, 3, targets=("arn:target-a",))

    def attempts_nothing(target, events):
        return BatchAnswer(unattempted=[event["event_id"] for event in events]).as_dict()

    summary = run_relay(store(outbox), attempts_nothing, FAST)
    assert (summary.invocations, summary.delivered, summary.retried) == (1, 0, 3)
    assert {(row["attempts"], row["waiting"], row["last_error"]) for row in table(outbox)} == {
        (1, 1, "the target attempted none of the events before its deadline")
    }


def test_each_target_s_invocations_are_cut_by_its_own_limits(outbox, settings_from_env):
    """This deployment's email: 3 events a call; its notify: 260 bytes (4 of these
    events); another deployment's email and a target outside the catalog: the relay's
    own 5 events a call."""
    email = function_arn("shop-prod-email", "live")
    notify = function_arn("shop-prod-notify")
    elsewhere = function_arn("shop-test-email", "live")
    targets = (email, notify, elsewhere, "arn:target-a")
    settings = settings_from_env(
        {
            "AURORA_EVENTS_PREFIX": "shop-prod",
            "RELAY_TARGET_LIMITS": encode_limits(
                {"email": BatchLimits(events=3, bytes=5_000_000), "notify": BatchLimits(100, 260)}
            ),
            "RELAY_EVENTS_PER_INVOCATION": "5",
        }
    )
    ids = add_events(outbox, 32, targets=targets)
    calls = Targets()
    summary = run_relay(store(outbox), calls, settings)
    assert summary.delivered == 32
    assert [(target, len(batch)) for target, batch in calls.calls] == [
        *[(email, 3), (email, 3), (email, 2)],
        *[(notify, 4), (notify, 4)],
        *[(elsewhere, 5), (elsewhere, 3)],
        *[("arn:target-a", 5), ("arn:target-a", 3)],
    ]
    assert sorted(calls.sent()) == sorted(ids)


@pytest.mark.parametrize(
    ("target", "name"),
    [
        (function_arn("shop-prod-email", "live"), "email"),
        (function_arn("shop-prod-notify"), "notify"),
        (function_arn("shop-prod-notify", "7"), "notify"),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:shop-prod-email", "email"),
        (function_arn("shop-production-email"), None),
        (function_arn("shop-email"), None),
        ("shop-prod-email", None),
        (function_arn("shop-prod-email") + ":live:extra", None),
    ],
)
def test_a_target_arn_is_a_catalog_name_only_under_the_relay_s_prefix(target, name):
    assert catalog_name(target, "shop-prod") == name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{", "RELAY_TARGET_LIMITS is not JSON"),
        ('[{"events": 1, "bytes": 1}]', "RELAY_TARGET_LIMITS must be a JSON object"),
        ('{"email": 200}', 'RELAY_TARGET_LIMITS[\'email\'] must be {"events": N, "bytes": N}'),
        ('{"email": {"events": 200}}', "RELAY_TARGET_LIMITS['email'] must be {\"events\""),
        (
            '{"email": {"events": 0, "bytes": 1000}}',
            "RELAY_TARGET_LIMITS['email']['events'] must be a whole number above 0, got 0",
        ),
        (
            '{"email": {"events": "200", "bytes": 1000}}',
            "['events'] must be a whole number above 0, got \"200\"",
        ),
        ('{"email": {"events": 2.5, "bytes": 1000}}', "['events'] must be a whole number"),
        ('{"email": {"events": true, "bytes": 1000}}', "['events'] must be a whole number"),
        (
            '{"notify": {"events": 10, "bytes": 7000000}}',
            "RELAY_TARGET_LIMITS['notify']['bytes'] is 7000000: over 6000000",
        ),
    ],
)
def test_a_bad_target_limits_setting_is_refused_with_what_is_wrong(
    settings_from_env, value, message
):
    with pytest.raises(ConfigurationError) as refused:
        settings_from_env({"RELAY_TARGET_LIMITS": value})
    assert message in str(refused.value)


def test_no_target_limits_setting_leaves_every_target_to_the_relay_s_own_limits(
    settings_from_env,
):
    settings = settings_from_env({})
    assert settings.target_limits.by_name == {}
    assert settings.target_limits.for_target(
        function_arn("aurora-events-email"), BatchLimits(7, 9)
    ) == BatchLimits(7, 9)


@pytest.fixture
def silent_endpoint():
    """A TCP server that accepts connections and never answers (a target that hangs):
    the list of connections it accepted."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # closed: the test is over
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
    for connection in accepted:
        connection.close()


def test_the_relay_invokes_a_target_once_even_when_its_answer_times_out(
    stack, silent_endpoint, monkeypatch
):
    """A second call after a read timeout would send the same events again while the
    first may still be running (botocore's ``max_attempts`` counts retries, not calls)."""
    url, accepted = silent_endpoint
    import functions.relay.handler as module

    with monkeypatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL_LAMBDA", url)
        patch.setenv("RELAY_TARGET_TIMEOUT_SECONDS", "0.5")
        relay = importlib.reload(module)
        try:
            with pytest.raises(ReadTimeoutError):
                relay.invoke_target(function_arn("t"), [{"event_id": str(uuid.uuid4())}])
        finally:
            patch.undo()
            importlib.reload(module)  # the module as the other tests expect it
    assert len(accepted) == 1
