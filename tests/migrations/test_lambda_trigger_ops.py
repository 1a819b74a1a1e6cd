"""create / replace / drop Lambda triggers, their reverses, and their errors."""

import json

import pytest

from migrations.function_arns import FunctionArnError, resolve_function_arn
from migrations.lambda_trigger import (
    CreateLambdaTriggerOp,
    DropLambdaTriggerOp,
    LambdaTrigger,
    ReplaceLambdaTriggerOp,
)
from migrations.row_event_sql import TriggerDefinitionError
from tests.support import payloads, settled_invocations

V1 = LambdaTrigger(table="things", function="notify", columns=("id", "name"))
V2 = LambdaTrigger(
    table="things", function="email", columns=("id", "name", "note"), name="things_ai_notify"
)


@pytest.fixture
def things(database):
    with database.connect().cursor() as cursor:
        cursor.execute(
            "CREATE TABLE things (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT, note TEXT)"
        )
    return database


def triggers(database):
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME"
        )
        return dict(cursor.fetchall())


def test_operations_reverse_each_other():
    assert isinstance(CreateLambdaTriggerOp(V1).reverse(), DropLambdaTriggerOp)
    assert CreateLambdaTriggerOp(V1).reverse().trigger == V1
    assert DropLambdaTriggerOp(V1).reverse().trigger == V1
    back = ReplaceLambdaTriggerOp(V2, replaces=V1).reverse()
    assert (back.trigger, back.replaces) == (V1, V2)


def test_create_replace_and_reverse_restore_the_exact_trigger(things, run_ops, stack, admin):
    run_ops(lambda op: op.create_lambda_trigger(V1))
    original = triggers(things)
    assert list(original) == ["things_ai_notify"]
    assert f"'{stack.resources.live_arns['notify']}'" in original["things_ai_notify"]

    run_ops(lambda op: op.replace_lambda_trigger(V2, replaces=V1))
    replaced = triggers(things)
    assert list(replaced) == ["things_ai_notify"]
    assert f"'{stack.resources.live_arns['email']}'" in replaced["things_ai_notify"]
    with things.connect().cursor() as cursor:
        cursor.execute("INSERT INTO things (name, note) VALUES ('n', 'a note')")
    (event,) = payloads(settled_invocations(admin, things.name, 1))
    assert event["row"] == {"id": 1, "name": "n", "note": "a note"}

    run_ops(lambda op: op.invoke(ReplaceLambdaTriggerOp(V2, replaces=V1).reverse()))
    assert triggers(things) == original

    run_ops(lambda op: op.drop_lambda_trigger(V1))
    assert triggers(things) == {}
    run_ops(lambda op: op.drop_lambda_trigger(V1))  # dropping again is not an error


def test_arn_override_points_a_trigger_elsewhere_without_editing_it(
    things, run_ops, monkeypatch, test_functions, admin
):
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_NOTIFY", test_functions.arns["test-echo"])
    run_ops(lambda op: op.create_lambda_trigger(V1))
    assert test_functions.arns["test-echo"] in triggers(things)["things_ai_notify"]
    with things.connect().cursor() as cursor:
        cursor.execute("INSERT INTO things (name) VALUES ('routed')")
    (row,) = settled_invocations(admin, things.name, 1)
    assert json.loads(row["response"])["echo"]["row"] == {"id": 1, "name": "routed"}


def test_a_function_that_is_not_deployed_is_a_clear_error(stack):
    with pytest.raises(
        FunctionArnError, match="'aurora-events-nosuch'.*AURORA_EVENTS_FUNCTION_ARN_NOSUCH"
    ):
        resolve_function_arn("nosuch")


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        (LambdaTrigger("things", "notify", ("id", "colour")), "columns it does not have: colour"),
        (LambdaTrigger("nothing", "notify", ("id",)), "table 'nothing' does not exist"),
        (LambdaTrigger("things", "notify", ("id",), primary_key=("nope",)), "primary key.*nope"),
    ],
)
def test_definition_errors_name_the_problem(things, run_ops, trigger, message):
    with pytest.raises(TriggerDefinitionError, match=message):
        run_ops(lambda op: op.create_lambda_trigger(trigger))
    assert triggers(things) == {}


def test_definition_is_checked_when_written():
    with pytest.raises(TriggerDefinitionError, match="delivery 'outbox-ish' is not available"):
        LambdaTrigger("things", "notify", ("id",), delivery="outbox-ish")
    with pytest.raises(TriggerDefinitionError, match="longer than 64"):
        LambdaTrigger("t" * 60, "notify", ("id",))
    with pytest.raises(TriggerDefinitionError, match="tuple of column names"):
        LambdaTrigger("things", "notify", "id")


def test_a_table_without_primary_key_is_refused(database, run_ops):
    with database.connect().cursor() as cursor:
        cursor.execute("CREATE TABLE loose (name TEXT)")
    with pytest.raises(TriggerDefinitionError, match="no primary key"):
        run_ops(lambda op: op.create_lambda_trigger(LambdaTrigger("loose", "notify", ("name",))))
