"""Reading the installed triggers back: the pure parser of a trigger body (the project's
own trigger texts, qualified and unqualified ARNs, things that only look like calls), and
information_schema on the real server after the migrations."""

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from infra.database.installed_triggers import (
    FunctionReference,
    TriggerCalls,
    definer_account,
    function_reference,
    installed_triggers,
    string_value,
    trigger_calls,
)
from migrations.row_event_sql import create_trigger_statement, outbox_trigger_statement

REPO_ROOT = Path(__file__).resolve().parents[3]
ARN = "arn:aws:lambda:ap-northeast-2:123456789012:function:shop-events-notify"
RELAY = "arn:aws:lambda:ap-northeast-2:123456789012:function:shop-events-relay"
PAYLOAD = "JSON_OBJECT('version', 1, 'row', JSON_OBJECT('id', NEW.`id`, 'it''s', NEW.`x`))"


@pytest.mark.parametrize("arn", [ARN, f"{ARN}:live", f"{ARN}:7", f"{ARN}:$LATEST"])
def test_a_direct_trigger_calls_its_function_qualified_or_not(arn):
    statement = create_trigger_statement("orders_ai_notify", "orders", arn, PAYLOAD)
    assert trigger_calls(statement) == TriggerCalls("direct", (arn,), ())


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_outbox_trigger_writes_its_target_and_rings_the_relay(version):
    statement = outbox_trigger_statement(
        "orders_ai_notify", "orders", f"{ARN}:live", f"{RELAY}:live", PAYLOAD, 1.0, version
    )
    assert trigger_calls(statement) == TriggerCalls("outbox", (f"{RELAY}:live",), (f"{ARN}:live",))


def test_function_references():
    qualified = function_reference(f"{ARN}:live")
    assert qualified == FunctionReference(f"{ARN}:live")
    assert (qualified.function_arn, qualified.name, qualified.qualifier, qualified.region) == (
        ARN,
        "shop-events-notify",
        "live",
        "ap-northeast-2",
    )
    assert function_reference(ARN).qualifier is None
    assert function_reference(ARN).function_arn == ARN
    for other in (
        "arn:aws:s3:::bucket",
        "shop-events-notify",
        f"{ARN}:live:again",
        f"{ARN} ",
        "arn:aws:lambda:us-east-1:1234:function:short-account",
    ):
        assert function_reference(other) is None, other


def test_what_only_looks_like_a_call_is_not_one():
    body = f"""
    BEGIN
      -- SELECT lambda_async('{RELAY}', '{{}}');  (a comment: not a call)
      /* lambda_sync('{RELAY}', '{{}}') */
      SET @x = JSON_OBJECT('lambda_async', NEW.`lambda_async`, 'arn', '{ARN}');
    END
    """
    assert trigger_calls(body) is None  # neither calls Lambda nor writes the outbox


def test_schema_qualified_calls_other_quotes_and_escapes():
    body = f'CALL mysql.lambda_async("{ARN}", \'{{"a": "it\'\'s"}}\')'
    assert trigger_calls(body) == TriggerCalls("direct", (ARN,), ())
    body = f"SELECT LAMBDA_SYNC( '{ARN}' , '{{}}') INTO @r"
    assert trigger_calls(body) == TriggerCalls("direct", (ARN,), ())
    assert string_value(r"'a''b\'c\\d\n'") == "a'b'c\\d\n"


def test_a_call_with_a_variable_function_is_counted_as_unreadable():
    calls = trigger_calls("SELECT lambda_async(@target, '{}') INTO @r")
    assert calls == TriggerCalls("direct", (), (), unreadable_calls=1)


def test_definers():
    assert definer_account("app@%") == ("app", "%")
    assert definer_account("migrator@10.0.%") == ("migrator", "10.0.%")
    assert definer_account("odd@name@localhost") == ("odd@name", "localhost")


def test_the_migrated_schema_s_triggers_are_read_from_information_schema(stack, database, admin):
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes.update(database_url=database.url, skip_logging_config=True)
    command.upgrade(config, "head")

    triggers = installed_triggers(admin, database.name)
    arns = stack.resources.live_arns  # the migrations resolve each function to its alias
    notify, email, relay = arns["notify"], arns["email"], arns["relay"]
    assert sorted((t.table, t.name, t.definer, t.calls) for t in triggers) == [
        (
            "customer_feedback",
            "customer_feedback_ai_email",
            ("app", "%"),
            TriggerCalls("direct", (email,), ()),
        ),
        (
            "customer_feedback",
            "customer_feedback_ai_notify",
            ("app", "%"),
            TriggerCalls("direct", (notify,), ()),
        ),
        (
            "customers",
            "customers_ai_notify",
            ("app", "%"),
            TriggerCalls("outbox", (relay,), (notify,)),
        ),
        ("orders", "orders_ai_notify", ("app", "%"), TriggerCalls("outbox", (relay,), (notify,))),
    ]
    (customers,) = [t for t in triggers if t.table == "customers"]
    assert customers.describe(lambda arn: arn.split(":function:")[1]) == (
        "customers_ai_notify on customers: outbox -> aurora-events-notify:live "
        "(doorbell: aurora-events-relay:live), as 'app'@'%'"
    )
    assert installed_triggers(admin, "no_such_schema") == []
