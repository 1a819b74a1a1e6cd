"""The doctor reads the installed triggers itself: every definer of a trigger that calls
Lambda must hold the grant (no --definer needed), and every ARN a trigger calls must be a
deployed function (its alias too, when qualified) that Aurora's policy allows; outbox
targets must be functions the relay may invoke. Each break is repaired by its own fix."""

import io
import secrets
import zipfile
from dataclasses import replace

import boto3
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from functions.common.database import connect, parse_database_url
from infra.aws import doctor
from infra.aws.aurora.order import plan_aurora_access
from infra.aws.changes import apply_changes
from migrations.row_event_sql import (
    create_outbox_statements,
    create_trigger_statement,
    outbox_trigger_statement,
)
from tests.infra.aws.conftest import run_fix, unique
from tests.infra.aws.test_doctor_path import REPO_ROOT, migrate

PAYLOAD = "JSON_OBJECT('id', NEW.`id`)"


def diagnose(config, admin, schema, definer=None):
    return doctor.diagnose(config, definer, admin, check_network=False, schema=schema)


def link(diagnosis, name):
    return next(r for r in diagnosis.links if r.link == name)


@pytest.fixture
def chain(config, stack):
    """Aurora's chain for notify, email and the relay (the outbox doorbell)."""
    relay = stack.resources.function_arns["relay"]
    with_relay = replace(config, function_arns=(*config.function_arns, relay))
    apply_changes(plan_aurora_access(with_relay))
    return with_relay


def create_table(database, table="things"):
    with database.connect().cursor() as cursor:
        cursor.execute(f"CREATE TABLE `{table}` (id INT PRIMARY KEY)")


def install(database, statement, as_account=None):
    """Run a CREATE TRIGGER (as ``(user, password)`` when given: the trigger's definer)."""
    settings = parse_database_url(database.url)
    if as_account is not None:
        settings = replace(settings, user=as_account[0], password=as_account[1])
    connection = connect(settings)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def test_a_migrated_schema_s_triggers_are_reported_and_their_definer_checked(
    chain, admin, database, stack
):
    migrate(database)
    diagnosis = diagnose(chain, admin, database.name)
    assert diagnosis.ok, doctor.render_diagnosis(diagnosis)
    triggers = link(diagnosis, "triggers")
    assert triggers.detail == (
        f"7 trigger(s) in {database.name} call Lambda or write the outbox, as declared "
        "(migrations/declared.py)"
    )
    assert triggers.warning is None
    # The migrations resolved each function to its alias live.
    assert sorted(triggers.items) == [
        "customer_feedback_ai_email on customer_feedback: direct -> aurora-events-email:live, "
        "as 'app'@'%'",
        "customer_feedback_ai_notify on customer_feedback: direct -> aurora-events-notify:live, "
        "as 'app'@'%'",
        *(
            f"{table}_{code}_notify on {table}: outbox -> aurora-events-notify:live "
            "(doorbell: aurora-events-relay:live), as 'app'@'%'"
            for table, code in (
                ("customers", "ad"),
                ("customers", "ai"),
                ("customers", "au"),
                ("orders", "ai"),
                ("orders", "au"),
            )
        ),
    ]
    assert link(diagnosis, "grant").detail.endswith(": definer of 7 trigger(s)")
    assert link(diagnosis, "functions").detail == (
        "3 function(s) exist; the 3 function(s) the triggers call exist and Aurora's policy "
        "allows them; the 1 outbox target(s) exist and the relay may invoke them"
    )


def test_a_declared_trigger_dropped_by_hand_breaks_the_link_naming_it(chain, admin, database):
    migrate(database)
    install(database, "DROP TRIGGER orders_ai_notify")
    diagnosis = diagnose(chain, admin, database.name)
    finding = diagnosis.finding
    assert finding.link == "triggers"
    assert finding.problem.startswith(
        f"declared trigger(s) missing: orders_ai_notify in {database.name}"
    )
    assert finding.fix.startswith("alembic revision --autogenerate")  # the schema is at head
    assert (
        "missing: orders_ai_notify on orders: outbox text 4 -> notify (id, customer_id, amount, "
        "currency, status, created_at)" in link(diagnosis, "triggers").items
    )
    assert "grant" in diagnosis.not_checked


def test_a_schema_behind_head_is_told_to_upgrade_and_the_upgrade_repairs_it(chain, admin, database):
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes.update(database_url=database.url, skip_logging_config=True)
    command.upgrade(config, "0005")  # outbox text 2, not head's 3
    finding = diagnose(chain, admin, database.name).finding
    assert finding.link == "triggers"
    assert "installed otherwise than declared: customers_ai_notify, customers_au_notify, " in (
        finding.problem
    )
    head = ScriptDirectory.from_config(config).get_current_head()
    assert finding.fix == f"alembic upgrade head ({database.name} is at 0005, head is {head})"
    command.upgrade(config, "head")
    assert diagnose(chain, admin, database.name).ok


def test_a_project_trigger_that_is_not_declared_is_a_warning(chain, admin, database, stack):
    migrate(database)
    create_table(database)
    notify = stack.resources.live_arns["notify"]
    install(database, create_trigger_statement("things_ai_notify", "things", notify, PAYLOAD))
    install(database, "CREATE TRIGGER things_audit AFTER INSERT ON things FOR EACH ROW SET @x = 1")
    diagnosis = diagnose(chain, admin, database.name)
    assert diagnosis.ok, doctor.render_diagnosis(diagnosis)
    warning = link(diagnosis, "triggers").warning
    assert warning.startswith(
        f"trigger(s) of this project in {database.name} that migrations/declared.py does not "
        "declare: things_ai_notify (declare them, or alembic revision --autogenerate"
    )
    assert "things_audit" not in warning


def test_without_triggers_the_doctor_says_so_and_checks_the_definer_given(chain, admin, database):
    diagnosis = diagnose(chain, admin, database.name)
    assert diagnosis.ok
    assert link(diagnosis, "triggers").detail == (
        f"no trigger in {database.name} calls Lambda or writes the outbox (yet) "
        f"({database.name} has no alembic_version: not compared)"
    )
    assert link(diagnosis, "grant").detail == (
        "no trigger calls Lambda and no --definer given: no account to check"
    )
    with_definer = diagnose(chain, admin, database.name, definer="app@%")
    assert link(with_definer, "grant").detail.endswith(": --definer")


def test_a_trigger_definer_without_the_grant_is_found_and_the_grant_repairs_it(
    chain, admin, database, stack
):
    user, password = unique("definer"), secrets.token_urlsafe(12)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cursor.execute(f"GRANT ALL ON `{database.name}`.* TO '{user}'@'%'")
    create_table(database)
    notify = stack.resources.function_arns["notify"]
    install(
        database,
        create_trigger_statement("things_ai_notify", "things", notify, PAYLOAD),
        as_account=(user, password),
    )
    finding = diagnose(chain, admin, database.name).finding  # no --definer: read it
    assert finding.link == "grant"
    assert finding.problem.startswith(
        f"'{user}'@'%' (definer of things_ai_notify) does not hold AWS_LAMBDA_ACCESS"
    )
    assert finding.fix == (
        f"GRANT AWS_LAMBDA_ACCESS TO '{user}'@'%';\n"
        f"SET DEFAULT ROLE AWS_LAMBDA_ACCESS FOR '{user}'@'%';"
    )
    run_fix(finding, admin)
    after = diagnose(chain, admin, database.name)
    assert after.ok, doctor.render_diagnosis(after)
    assert link(after, "grant").detail.startswith(f"'{user}'@'%' holds AWS_LAMBDA_ACCESS, active")


def test_a_trigger_whose_definer_is_gone_is_found(chain, admin, database, stack):
    user, password = unique("gone"), secrets.token_urlsafe(12)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cursor.execute(f"GRANT ALL ON `{database.name}`.* TO '{user}'@'%'")
    create_table(database)
    install(
        database,
        create_trigger_statement(
            "things_ai_notify", "things", stack.resources.function_arns["notify"], PAYLOAD
        ),
        as_account=(user, password),
    )
    with admin.cursor() as cursor:
        cursor.execute(f"DROP USER '{user}'@'%'")
    finding = diagnose(chain, admin, database.name).finding
    assert finding.link == "grant"
    assert finding.problem == (
        f"no account '{user}'@'%' on this server, and no account named '{user}': it is the "
        "DEFINER of trigger(s) things_ai_notify, which fail every INSERT with ERROR 1449 "
        "(the definer does not exist)"
    )
    assert finding.fix_kind == "manual"


def test_a_doorbell_aurora_may_not_ring_is_found_and_aurora_apply_repairs_it(
    config, admin, database, stack
):
    apply_changes(plan_aurora_access(config))  # notify and email only: not the relay
    migrate(database)
    relay = stack.resources.function_arns["relay"]
    finding = diagnose(config, admin, database.name).finding
    # The invoke policy's plan has every function the triggers call among its functions.
    assert finding.link == "policy"
    assert finding.problem == (
        f"iam policy {config.policy_name}: update (new default version: + Allow "
        f"lambda:InvokeFunction on {relay}; + Allow lambda:InvokeFunction on {relay}:*): Aurora "
        "may invoke only what the policy allows"
    )
    assert finding.fix.endswith(f"--function-arn {relay} --only policy")
    run_fix(finding, admin)
    after = diagnose(config, admin, database.name)
    assert after.ok, doctor.render_diagnosis(after)


@pytest.fixture
def own_function(stack):
    """A function of this test (one published version, no alias)."""
    name = unique("doctor-target")
    role = boto3.client("iam").create_role(
        RoleName=name, AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}'
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lambda_client = boto3.client("lambda")
    arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    lambda_client.publish_version(FunctionName=name)
    return arn


def test_a_qualified_arn_outside_aurora_s_policy_then_without_its_alias_is_repaired(
    chain, admin, database, own_function
):
    create_table(database)
    install(
        database,
        create_trigger_statement("things_ai_target", "things", f"{own_function}:live", PAYLOAD),
    )
    name = own_function.rsplit(":", 1)[1]
    # Aurora's policy does not name the function yet: the policy's plan adds it.
    finding = diagnose(chain, admin, database.name).finding
    assert finding.link == "policy"
    assert finding.fix.endswith(f"--function-arn {own_function} --only policy")  # unqualified
    run_fix(finding, admin)
    finding = diagnose(chain, admin, database.name).finding
    assert finding.link == "functions"
    assert finding.problem == (
        f"trigger(s) things_ai_target call {own_function}:live, but function {name} has no "
        "alias or version live: their INSERTs fail with ERROR 1873 (function not found)"
    )
    assert finding.fix == (
        f"aws lambda create-alias --region us-east-1 --function-name {own_function} --name live "
        "--function-version 1"
    )
    run_fix(finding, admin)
    after = diagnose(chain, admin, database.name)
    assert after.ok, doctor.render_diagnosis(after)


def test_an_outbox_target_the_relay_may_not_invoke_is_found(chain, admin, database, stack):
    arns = stack.resources.function_arns
    with database.connect().cursor() as cursor:
        for statement in create_outbox_statements():
            cursor.execute(statement)
    create_table(database)
    install(
        database,
        outbox_trigger_statement(
            "things_ai_ingest", "things", arns["ingest"], arns["relay"], PAYLOAD, 1.0
        ),
    )
    finding = diagnose(chain, admin, database.name).finding
    assert finding.link == "functions"
    assert finding.problem == (
        f"the relay aurora-events-relay's role aurora-events-relay may not invoke "
        f"{arns['ingest']}, the outbox target of things_ai_ingest: those events wait and are "
        "parked"
    )
    assert finding.fix.startswith("point the trigger(s) at an outbox target the relay may invoke")
    assert finding.fix_kind == "manual"
