"""The doctor's relay link: each broken part (the relay's function missing, Aurora's policy
without the relay, the relay's account without its outbox rights) is found, and its own
suggested fix repairs it."""

import functools
from dataclasses import replace

import pytest

import sql
from infra.aws import doctor
from infra.aws.aurora.order import plan_aurora_access
from infra.aws.changes import apply_changes
from infra.aws.resources import order
from infra.aws.resources.context import Context
from migrations.row_event_sql import create_outbox_statements
from tests.infra.aws.conftest import run_aurora_events, run_fix, unique
from tests.infra.aws.test_event_path import new_path

APP = "app@%"


@pytest.fixture
def chain(config):
    """Aurora's chain in place for notify and email (the relay not yet in its policy)."""
    apply_changes(plan_aurora_access(config))
    return config


def diagnose(config, admin, relay):
    return doctor.diagnose(config, APP, admin, check_network=False, relay=relay)


def relay_result(diagnosis):
    assert [r.link for r in diagnosis.links][-1] == "relay", doctor.render_diagnosis(diagnosis)
    return diagnosis.links[-1]


def test_a_missing_relay_function_is_found_and_deploy_apply_creates_it(
    chain, admin, stack, monkeypatch
):
    path = new_path()  # a deployment not applied yet: no relay function
    prefix = path.deployment.prefix
    arn = path.target.arn("lambda", f"function:{prefix}-relay")
    relay = doctor.RelayCheck(arn)
    # The invoke policy's plan has the relay among the functions (the doorbell): it breaks
    # before the relay's own link.
    finding = diagnose(chain, admin, relay).finding
    assert finding.link == "policy"
    assert finding.fix.endswith(f"--function-arn {arn} --only policy")
    run_fix(finding, admin)
    finding = diagnose(chain, admin, relay).finding
    assert finding.link == "relay"
    assert finding.problem == (
        f"the outbox relay's function {arn} does not exist: outbox events wait in the table "
        "(the doorbell is swallowed, and no schedule runs)"
    )
    assert finding.fix == f"aurora-events deploy apply --prefix {prefix}"
    assert finding.fix_kind == "aurora-events"

    # The fix, with this deployment's settings (its secrets), without vendoring: what
    # `deploy apply` runs is the event path's plan.
    for key, value in (
        ("AURORA_EVENTS_DATABASE_SECRET_ID", path.deployment.database_secret_id),
        ("AURORA_EVENTS_RELAY_DATABASE_SECRET_ID", path.deployment.relay_database_secret_id),
        ("AURORA_EVENTS_EMAIL_FROM", path.deployment.email_from),
    ):
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(
        "infra.aws.commands.Context", functools.partial(Context, options=path.options)
    )
    try:
        assert run_aurora_events(finding.fix) == 0
        after = diagnose(chain, admin, relay)
        assert after.ok, doctor.render_diagnosis(after)
        assert relay_result(after).detail == (
            f"function {prefix}-relay exists; Aurora may invoke it (the doorbell)"
        )
    finally:
        apply_changes(order.plan_destroy(path))


def test_aurora_policy_without_the_relay_is_found_and_aurora_apply_adds_it(
    chain, admin, stack, capsys
):
    arn = stack.resources.function_arns["relay"]
    relay = doctor.RelayCheck(arn)
    finding = diagnose(chain, admin, relay).finding
    assert finding.link == "policy"
    assert finding.problem == (
        f"iam policy {chain.policy_name}: update (new default version: + Allow "
        f"lambda:InvokeFunction on {arn}; + Allow lambda:InvokeFunction on {arn}:*): Aurora may "
        "invoke only what the policy allows"
    )
    assert finding.fix.endswith(f"--function-arn {arn} --only policy")
    run_fix(finding, admin)
    capsys.readouterr()
    after = diagnose(chain, admin, relay)
    assert after.ok, doctor.render_diagnosis(after)
    assert relay_result(after).detail == (
        f"function {arn.rsplit(':', 1)[1]} exists; Aurora may invoke it (the doorbell)"
    )


def test_a_relay_account_without_outbox_rights_is_found_and_the_grant_repairs_it(
    config, admin, database, stack
):
    arn = stack.resources.function_arns["relay"]
    with_relay = replace(config, function_arns=(*config.function_arns, arn))
    apply_changes(plan_aurora_access(with_relay))
    user = unique("relay")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%'")
    relay = doctor.RelayCheck(arn, account=f"{user}@%", database=database.name)

    before = relay_result(diagnose(with_relay, admin, relay))
    assert before.ok and before.detail.endswith(f"; no outbox in {database.name} yet")

    with database.connect().cursor() as cursor:
        for statement in create_outbox_statements():
            cursor.execute(statement)
    finding = diagnose(with_relay, admin, relay).finding
    assert finding.link == "relay"
    assert finding.problem == (
        f"'{user}'@'%' lacks SELECT, UPDATE, DELETE on {database.name}.aurora_events_outbox: "
        "the relay cannot claim or mark events, so they wait"
    )
    assert finding.fix == (
        f"GRANT SELECT, UPDATE, DELETE ON `{database.name}`.`aurora_events_outbox` TO '{user}'@'%';"
    )
    run_fix(finding, admin)
    after = diagnose(with_relay, admin, relay)
    assert after.ok, doctor.render_diagnosis(after)
    assert relay_result(after).detail.endswith(
        f"; '{user}'@'%' may work the outbox of {database.name}"
    )
    assert relay_result(after).warning is None

    # Revision 0010's hold counter, not granted yet: the relay works (slower), a warning
    # names the grant, and the grant clears it.
    with database.connect().cursor() as cursor:
        for statement in sql.render("outbox/create_hold_counter.sql"):
            cursor.execute(statement)
    counter = relay_result(diagnose(with_relay, admin, relay))
    grant = (
        f"GRANT SELECT, UPDATE ON `{database.name}`.`aurora_events_outbox_holds` TO '{user}'@'%'"
    )
    assert counter.ok and counter.warning == (
        f"'{user}'@'%' lacks SELECT, UPDATE on {database.name}.aurora_events_outbox_holds "
        f"(revision 0010): the relay looks for held events at every record, slower; grant: "
        f"{grant};"
    )
    with admin.cursor() as cursor:
        cursor.execute(grant)
    assert relay_result(diagnose(with_relay, admin, relay)).warning is None
