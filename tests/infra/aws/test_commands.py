"""``aurora-events aurora plan|apply|destroy``, ``grant`` and ``doctor`` as a user runs them
(the subcommands :func:`infra.aws.commands.register` adds), output and exit codes."""

import json
from dataclasses import replace

import boto3

from infra.aws.policy_documents import service_trust_policy
from tests.infra.aws.conftest import run_aurora_events, unique


def arn_options(function_arns) -> str:
    return " ".join(f"--function-arn {arn}" for arn in function_arns)


def test_plan_apply_plan_destroy(capsys, cluster, function_arns):
    prefix = unique("cli")
    chain = f"--cluster {cluster} --prefix {prefix} {arn_options(function_arns)}"

    assert run_aurora_events(f"aurora-events aurora plan {chain}") == 0
    planned = capsys.readouterr().out.splitlines()
    assert planned[0] == (
        f"create     iam policy {prefix}-aurora-invoke-lambda: lambda:InvokeFunction on "
        f"{', '.join(function_arns)} (and :*)"
    )
    assert len(planned) == 7

    assert run_aurora_events(f"aurora-events aurora apply {chain}") == 0
    assert capsys.readouterr().out.splitlines() == planned
    assert boto3.client("iam").get_role(RoleName=f"{prefix}-aurora-lambda")["Role"]

    assert run_aurora_events(f"aurora-events aurora plan {chain}") == 0
    assert capsys.readouterr().out == "no changes: everything is as declared\n"

    assert run_aurora_events(f"aurora-events aurora destroy {chain}") == 1  # moto's gap
    out = capsys.readouterr().out
    assert f"delete     iam role {prefix}-aurora-lambda" in out
    assert (
        f"NOT DONE   disassociate db cluster {cluster} (us-east-1): "
        f"iam role {prefix}-aurora-lambda: "
        "RemoveRoleFromDBCluster is not implemented by the AWS endpoint"
    ) in out


def test_default_function_arns_are_the_catalogs_deployed_functions(capsys, stack, cluster):
    # The stack deployed the catalog with its prefix (aurora-events) and already gave its
    # stand-in cluster access: the policy exists, with exactly the Aurora-invoked functions.
    assert run_aurora_events(f"aurora-events aurora plan --cluster {cluster}") == 0
    planned = capsys.readouterr().out
    assert "iam policy" not in planned  # the default ARNs are the ones the policy holds
    iam = boto3.client("iam")
    account = boto3.client("sts").get_caller_identity()["Account"]
    policy_arn = f"arn:aws:iam::{account}:policy/aurora-events-aurora-invoke-lambda"
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"][
        "Document"
    ]
    resources = {r for s in document["Statement"] for r in s["Resource"]}
    arns = stack.resources.function_arns
    invoked = ("notify", "email", "relay")  # relay: the outbox trigger's doorbell
    assert resources == {arn for name in invoked for arn in (arns[name], f"{arns[name]}:*")}


def test_bad_input_exits_2_with_the_reason(capsys, stack, function_arns):
    code = run_aurora_events(
        f"aurora-events aurora plan --cluster no-such-cluster {arn_options(function_arns)}"
    )
    assert code == 2
    assert capsys.readouterr().err == (
        "aurora-events: no DB cluster 'no-such-cluster' in us-east-1\n"
    )
    assert run_aurora_events("aurora-events aurora plan --cluster c --prefix nowhere-deployed") == 2
    assert "function nowhere-deployed-notify is not deployed" in capsys.readouterr().err


def root_url(stack, database: str = "") -> str:
    """The local server's root over its socket, password included, as a URL."""
    settings = replace(stack.db.root_settings(), database=database or None)
    return settings.url(driver="mysql")


def test_grant_command(capsys, stack, admin, monkeypatch):
    user = unique("granted")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%'")
    admin_url = root_url(stack)
    # The admin URL from the environment: a password in an argument shows in ps.
    monkeypatch.setenv("AURORA_EVENTS_ADMIN_URL", admin_url)
    assert run_aurora_events(f"aurora-events grant --user {user}") == 0
    monkeypatch.delenv("AURORA_EVENTS_ADMIN_URL")
    out = capsys.readouterr().out
    assert f"GRANT AWS_LAMBDA_ACCESS TO '{user}'@'%';" in out
    assert out.startswith("-- MariaDB ")
    with admin.cursor() as cursor:
        cursor.execute("SELECT Role FROM mysql.roles_mapping WHERE User = %s", (user,))
        assert cursor.fetchall() == (("AWS_LAMBDA_ACCESS",),)

    assert (
        run_aurora_events(f"aurora-events grant --admin-url {admin_url} --user {user} --host 10.%")
        == 2
    )
    assert f"the accounts named '{user}': '{user}'@'%'" in capsys.readouterr().err


def test_doctor_command_exits_1_and_prints_the_fix(capsys, stack, database, cluster, function_arns):
    prefix = unique("doc")
    admin_url = root_url(stack, database.name)
    command = (
        f"aurora-events doctor --cluster {cluster} --prefix {prefix} {arn_options(function_arns)} "
        f"--admin-url {admin_url} --definer app@% --aurora-only"
    )
    assert run_aurora_events(command) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(
        f"BROKEN  role         iam role {prefix}-aurora-lambda: create (trusting "
        "rds.amazonaws.com only when "
    )
    assert "fix (aurora-events):\n  aurora-events aurora apply --cluster" in out

    assert (
        run_aurora_events(
            f"aurora-events aurora apply --cluster {cluster} --prefix {prefix} "
            f"{arn_options(function_arns)}"
        )
        == 0
    )
    capsys.readouterr()
    assert run_aurora_events(command) == 0
    assert capsys.readouterr().out.endswith("every link checked is in place\n")


def test_aurora_apply_refuses_a_role_that_is_not_ours_until_told_to_adopt_it(
    capsys, cluster, function_arns
):
    prefix = unique("cli")
    role = f"{prefix}-aurora-lambda"
    iam = boto3.client("iam")
    theirs = service_trust_policy("ec2.amazonaws.com")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(theirs))
    chain = f"--cluster {cluster} --prefix {prefix} {arn_options(function_arns)}"

    for command in ("plan", "apply"):
        assert run_aurora_events(f"aurora-events aurora {command} {chain}") == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == (
            f"aurora-events: iam role {role} exists but does not carry this deployment's tags "
            f"(project=aurora-events, aurora-events:prefix={prefix}); it may belong to "
            "something else. Re-run with --adopt-existing-roles to take it over, or choose "
            "another prefix\n"
        )
    assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"] == theirs
    assert iam.list_role_tags(RoleName=role)["Tags"] == []

    assert run_aurora_events(f"aurora-events aurora apply {chain} --adopt-existing-roles") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        f"adopt      iam role {role}: tag it project=aurora-events, aurora-events:prefix={prefix}"
    )
    assert {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role)["Tags"]} == {
        "project": "aurora-events",
        "aurora-events:prefix": prefix,
    }
    assert run_aurora_events(f"aurora-events aurora plan {chain}") == 0
    assert capsys.readouterr().out == "no changes: everything is as declared\n"


def test_deploy_plan_refuses_an_execution_role_that_is_not_ours(capsys, stack, monkeypatch):
    prefix = unique("clideploy")
    boto3.client("secretsmanager").create_secret(Name=f"{prefix}-db", SecretString="{}")
    monkeypatch.setenv("AURORA_EVENTS_DATABASE_SECRET_ID", f"{prefix}-db")
    iam = boto3.client("iam")
    theirs = service_trust_policy("lambda.amazonaws.com")
    iam.create_role(RoleName=f"{prefix}-notify", AssumeRolePolicyDocument=json.dumps(theirs))

    assert run_aurora_events(f"aurora-events deploy plan --prefix {prefix}") == 2
    assert capsys.readouterr().err.startswith(
        f"aurora-events: iam role {prefix}-notify exists but does not carry this deployment's "
        f"tags (project=aurora-events, aurora-events:prefix={prefix});"
    )
    assert iam.list_role_tags(RoleName=f"{prefix}-notify")["Tags"] == []
    iam.delete_role(RoleName=f"{prefix}-notify")
