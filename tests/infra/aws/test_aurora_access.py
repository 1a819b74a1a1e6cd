"""Plan/apply/destroy of Aurora's access to Lambda, against moto (one cluster per test)."""

import dataclasses
import json

import boto3
import pytest

from infra.aws.aurora import policies as aurora_policies
from infra.aws.aurora import state as aurora_state
from infra.aws.aurora.config import AuroraAccessConfig, AuroraAccessError
from infra.aws.aurora.order import plan_aurora_access, plan_destroy
from infra.aws.changes import apply_changes, describe_plan
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.policy_documents import service_trust_policy
from tests.infra.aws.conftest import V2_ENGINE_VERSION, create_cluster, describe_cluster, unique


def policy_document(config) -> dict:
    iam = boto3.client("iam")
    account = boto3.client("sts").get_caller_identity()["Account"]
    arn = f"arn:aws:iam::{account}:policy/{config.policy_name}"
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


def parameters(group: str, region: str | None = None) -> dict[str, str]:
    rds = boto3.client("rds", region_name=region)
    found = rds.describe_db_cluster_parameters(DBClusterParameterGroupName=group)["Parameters"]
    return {p["ParameterName"]: p["ParameterValue"] for p in found}


def actions(changes) -> list[tuple[str, str]]:
    return [(c.action, c.resource) for c in changes]


def rds_trust(account: str, cluster_arns: list[str]) -> dict:
    """The trust policy apply writes, spelled out: RDS, for this account and these clusters."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnEquals": {"aws:SourceArn": sorted(cluster_arns)},
                },
            }
        ],
    }


def trust_policy(role_name: str) -> dict:
    return boto3.client("iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]


def role_state(role_name: str) -> dict:
    """Everything apply could change on a role: trust, tags, inline and attached policies."""
    iam = boto3.client("iam")
    return {
        "trust": trust_policy(role_name),
        "tags": iam.list_role_tags(RoleName=role_name)["Tags"],
        "inline": {
            name: iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        },
        "attached": iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"],
    }


def test_apply_from_nothing_makes_every_link_and_a_second_plan_is_empty(
    config, cluster, function_arns, account_id
):
    plan = plan_aurora_access(config)
    group = f"{config.prefix}-{cluster}-params"
    assert actions(plan) == [
        ("create", f"iam policy {config.policy_name}"),
        ("create", f"iam role {config.role_name}"),
        ("attach", f"iam role {config.role_name}"),
        ("create", f"db cluster parameter group {group} (us-east-1)"),
        (
            "set",
            f"parameter aws_default_lambda_role of db cluster parameter group {group} (us-east-1)",
        ),
        ("update", f"db cluster {cluster} (us-east-1)"),
        ("associate", f"db cluster {cluster} (us-east-1)"),
    ]
    iam = boto3.client("iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException):  # planning changed nothing
        iam.get_role(RoleName=config.role_name)

    apply_changes(plan)

    role_arn = f"arn:aws:iam::{account_id}:role/{config.role_name}"
    assert policy_document(config)["Statement"] == [
        {
            "Sid": "AuroraInvokesTheseFunctions",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": sorted([*function_arns, *(f"{arn}:*" for arn in function_arns)]),
        }
    ]
    role = iam.get_role(RoleName=config.role_name)["Role"]
    cluster_arn = f"arn:aws:rds:us-east-1:{account_id}:cluster:{cluster}"
    assert role["AssumeRolePolicyDocument"] == rds_trust(account_id, [cluster_arn])
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == {
        "project": "aurora-events",
        "aurora-events:prefix": config.prefix,
    }
    attached = iam.list_attached_role_policies(RoleName=config.role_name)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == [config.policy_name]

    described = describe_cluster(cluster)
    assert described["DBClusterParameterGroup"] == group
    assert parameters(group) == {"aws_default_lambda_role": role_arn}
    rds = boto3.client("rds")
    (created,) = rds.describe_db_cluster_parameter_groups(DBClusterParameterGroupName=group)[
        "DBClusterParameterGroups"
    ]
    assert created["DBParameterGroupFamily"] == "aurora-mysql8.0"
    tags = rds.list_tags_for_resource(ResourceName=created["DBClusterParameterGroupArn"])
    assert {t["Key"]: t["Value"] for t in tags["TagList"]}[
        "aurora-events:replaced-parameter-group"
    ] == "default.aurora8.0"  # moto's name for the default group
    # Aurora MySQL's association: no FeatureName (that is the PostgreSQL form).
    assert described["AssociatedRoles"] == [{"RoleArn": role_arn, "Status": "ACTIVE"}]

    second = plan_aurora_access(config)
    assert second == []
    assert describe_plan(second) == "no changes: everything is as declared"


def test_plan_after_a_function_was_removed_from_the_policy_shows_exactly_that(
    config, function_arns
):
    apply_changes(plan_aurora_access(config))
    notify, email = function_arns
    shrunk = aurora_policies.invoke_policy_document([notify])
    iam = boto3.client("iam")
    policy_arn = iam.list_attached_role_policies(RoleName=config.role_name)["AttachedPolicies"][0][
        "PolicyArn"
    ]
    iam.create_policy_version(
        PolicyArn=policy_arn, PolicyDocument=json.dumps(shrunk), SetAsDefault=True
    )

    (change,) = plan_aurora_access(config)
    assert (change.action, change.resource) == ("update", f"iam policy {config.policy_name}")
    assert change.detail == (
        f"new default version: + Allow lambda:InvokeFunction on {email}; "
        f"+ Allow lambda:InvokeFunction on {email}:*"
    )
    change.run()
    assert email in policy_document(config)["Statement"][0]["Resource"]
    assert plan_aurora_access(config) == []


def test_a_policy_at_iams_five_versions_drops_its_oldest_other_version(config, function_arns):
    apply_changes(plan_aurora_access(config))
    iam = boto3.client("iam")
    policy_arn = iam.list_attached_role_policies(RoleName=config.role_name)["AttachedPolicies"][0][
        "PolicyArn"
    ]
    document = json.dumps(aurora_policies.invoke_policy_document(function_arns[:1]))
    for _ in range(4):
        iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=document, SetAsDefault=True)

    apply_changes(plan_aurora_access(config))

    versions = iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == ["v2", "v3", "v4", "v5", "v6"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v6"]
    assert plan_aurora_access(config) == []


def test_a_custom_group_is_reused_and_an_edited_parameter_is_the_only_drift(
    stack, function_arns, account_id
):
    rds = boto3.client("rds")
    group = unique("their-params")
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=group,
        DBParameterGroupFamily="aurora-mysql8.0",
        Description="the team's own",
    )
    identifier = unique("custom")
    create_cluster(identifier, DBClusterParameterGroupName=group)
    config = AuroraAccessConfig(
        identifier, function_arns, prefix=unique("t"), activate_all_roles_on_login=True
    )
    apply_changes(plan_aurora_access(config))
    role_arn = f"arn:aws:iam::{account_id}:role/{config.role_name}"
    assert describe_cluster(identifier)["DBClusterParameterGroup"] == group
    assert parameters(group) == {
        "aws_default_lambda_role": role_arn,
        "activate_all_roles_on_login": "1",
    }
    names = [
        g["DBClusterParameterGroupName"]
        for g in rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]
    ]
    assert f"{config.prefix}-{identifier}-params" not in names

    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName=group,
        Parameters=[
            {
                "ParameterName": "aws_default_lambda_role",
                "ParameterValue": "arn:aws:iam::000000000000:role/someone-else",
                "ApplyMethod": "immediate",
            }
        ],
    )
    (change,) = plan_aurora_access(config)
    assert change.action == "set"
    assert change.resource == (
        f"parameter aws_default_lambda_role of db cluster parameter group {group} (us-east-1)"
    )
    assert change.detail == (
        f"arn:aws:iam::000000000000:role/someone-else -> {role_arn} (applies at the next reboot)"
    )


def test_every_cluster_of_a_global_database_gets_the_parameter_and_the_role(
    stack, function_arns, account_id
):
    primary, secondary = unique("primary"), unique("secondary")
    arn = create_cluster(primary)["DBClusterArn"]
    global_id = unique("global")
    boto3.client("rds").create_global_cluster(
        GlobalClusterIdentifier=global_id, SourceDBClusterIdentifier=arn
    )
    create_cluster(secondary, region="eu-west-1", instances=0, GlobalClusterIdentifier=global_id)
    config = AuroraAccessConfig(primary, function_arns, prefix=unique("t"))

    apply_changes(plan_aurora_access(config))

    role_arn = f"arn:aws:iam::{account_id}:role/{config.role_name}"
    for identifier, region in ((primary, "us-east-1"), (secondary, "eu-west-1")):
        described = describe_cluster(identifier, region)
        group = f"{config.prefix}-{identifier}-params"
        assert described["DBClusterParameterGroup"] == group
        assert parameters(group, region) == {"aws_default_lambda_role": role_arn}
        assert described["AssociatedRoles"] == [{"RoleArn": role_arn, "Status": "ACTIVE"}]
    assert plan_aurora_access(config) == []


def test_reboot_is_planned_only_when_asked(config, cluster):
    without = plan_aurora_access(config)
    assert "reboot" not in [c.action for c in without]
    with_reboot = plan_aurora_access(config, reboot=True)
    assert actions(with_reboot)[-1] == ("reboot", f"db instance {cluster}-0 (us-east-1)")
    assert with_reboot[-1].detail == f"so that db cluster {cluster}'s parameters apply (writer)"


def test_a_v2_cluster_is_detected_and_refuses_activate_all_roles_on_login(stack, function_arns):
    identifier = unique("v2-")
    create_cluster(identifier, engine_version=V2_ENGINE_VERSION, instances=0)
    config = AuroraAccessConfig(identifier, function_arns, prefix=unique("t"))
    plan = plan_aurora_access(config)
    assert plan[3].detail.startswith("family aurora-mysql5.7,")
    with pytest.raises(AuroraAccessError, match="activate_all_roles_on_login exists on Aurora"):
        plan_aurora_access(dataclasses.replace(config, activate_all_roles_on_login=True))


def test_destroy_removes_what_apply_made_and_names_what_moto_cannot(config, cluster):
    apply_changes(plan_aurora_access(config))
    group = f"{config.prefix}-{cluster}-params"

    outcome = apply_changes(plan_destroy(config))

    assert [(c.action, c.resource) for c in outcome.done] == [
        ("update", f"db cluster {cluster} (us-east-1)"),
        ("delete", f"db cluster parameter group {group} (us-east-1)"),
        ("detach", f"iam role {config.role_name}"),
        ("delete", f"iam role {config.role_name}"),
        ("delete", f"iam policy {config.policy_name}"),
    ]
    ((change, reason),) = outcome.unsupported
    assert (change.action, change.resource) == ("disassociate", f"db cluster {cluster} (us-east-1)")
    assert reason.startswith("RemoveRoleFromDBCluster is not implemented by the AWS endpoint")

    iam, rds = boto3.client("iam"), boto3.client("rds")
    assert config.role_name not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert config.policy_name not in [
        p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]
    ]
    assert group not in [
        g["DBClusterParameterGroupName"]
        for g in rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]
    ]
    described = describe_cluster(cluster)
    assert described["DBClusterParameterGroup"] == "default.aurora8.0"
    # What moto could not remove stays, and only that.
    assert [r["RoleArn"].rsplit("/", 1)[1] for r in described["AssociatedRoles"]] == [
        config.role_name
    ]
    assert [(c.action, c.resource) for c in plan_destroy(config)] == [
        ("disassociate", f"db cluster {cluster} (us-east-1)")
    ]


def test_destroy_keeps_what_is_not_tagged_as_ours(config, cluster):
    iam = boto3.client("iam")
    iam.create_role(
        RoleName=config.role_name,
        AssumeRolePolicyDocument=json.dumps(
            aurora_policies.rds_trust_policy([describe_cluster(cluster)["DBClusterArn"]])
        ),
    )
    assert [(c.action, c.resource, c.detail) for c in plan_destroy(config)] == [
        ("keep", f"iam role {config.role_name}", "not tagged as this project's")
    ]


def test_function_arns_must_be_exact_unqualified_arns(function_arns):
    with pytest.raises(AuroraAccessError, match="not an unqualified Lambda function ARN"):
        AuroraAccessConfig("c", ("arn:aws:lambda:us-east-1:123456789012:function:*",))
    with pytest.raises(AuroraAccessError, match="not an unqualified Lambda function ARN"):
        AuroraAccessConfig("c", (f"{function_arns[0]}:live",))
    with pytest.raises(AuroraAccessError, match="no function ARNs"):
        AuroraAccessConfig("c", ())


@pytest.mark.parametrize(
    ("engine_version", "major"),
    [
        ("8.0.mysql_aurora.3.05.2", 3),
        ("5.7.mysql_aurora.2.11.2", 2),
        ("8.0.mysql_aurora.3.08.0", 3),
    ],
)
def test_engine_major_version(engine_version, major):
    assert aurora_state.engine_major_version(engine_version) == major


def test_engine_major_version_refuses_other_engines():
    with pytest.raises(AuroraAccessError, match="not Aurora MySQL v2 or v3"):
        aurora_state.engine_major_version("16.1")


def test_an_unknown_cluster_is_a_clear_error(stack, function_arns):
    config = AuroraAccessConfig("nobody-made-this", function_arns, prefix=unique("t"))
    with pytest.raises(AuroraAccessError, match="no DB cluster 'nobody-made-this' in us-east-1"):
        plan_aurora_access(config)


# -- least privilege: the role's trust, and resources that are not ours -----------------


def hostile_trust(kind: str, account: str, cluster_arn: str) -> dict:
    """A trust policy an operator (or someone else) left on the role."""
    conditions = {
        "conditions-stripped": None,
        "another-account": {
            "StringEquals": {"aws:SourceAccount": "000000000000"},
            "ArnEquals": {"aws:SourceArn": "arn:aws:rds:us-east-1:000000000000:cluster:theirs"},
        },
        "another-cluster": {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnEquals": {"aws:SourceArn": f"arn:aws:rds:us-east-1:{account}:cluster:other"},
        },
        "source-account-only": {"StringEquals": {"aws:SourceAccount": account}},
    }[kind]
    return service_trust_policy("rds.amazonaws.com", conditions)


@pytest.mark.parametrize(
    "kind", ["conditions-stripped", "another-account", "another-cluster", "source-account-only"]
)
def test_apply_restores_the_source_conditions_of_the_rds_trust(config, cluster, account_id, kind):
    apply_changes(plan_aurora_access(config))
    cluster_arn = f"arn:aws:rds:us-east-1:{account_id}:cluster:{cluster}"
    boto3.client("iam").update_assume_role_policy(
        RoleName=config.role_name,
        PolicyDocument=json.dumps(hostile_trust(kind, account_id, cluster_arn)),
    )

    (change,) = plan_aurora_access(config)
    assert (change.action, change.resource, change.detail) == (
        "update",
        f"iam role {config.role_name}",
        "trust policy: only rds.amazonaws.com may assume it only when "
        f"aws:SourceAccount = {account_id}; aws:SourceArn = {cluster_arn}",
    )
    change.run()
    assert trust_policy(config.role_name) == rds_trust(account_id, [cluster_arn])
    assert plan_aurora_access(config) == []


def test_the_trust_in_another_spelling_is_not_drift(config, cluster, account_id):
    """A one-item list and its item, keys in another order: IAM reads them the same."""
    apply_changes(plan_aurora_access(config))
    cluster_arn = f"arn:aws:rds:us-east-1:{account_id}:cluster:{cluster}"
    respelled = {
        "Version": "2012-10-17",
        "Statement": {
            "Action": ["sts:AssumeRole"],
            "Condition": {
                "ArnEquals": {"aws:SourceArn": cluster_arn},
                "StringEquals": {"aws:SourceAccount": [account_id]},
            },
            "Principal": {"Service": ["rds.amazonaws.com"]},
            "Effect": "Allow",
        },
    }
    boto3.client("iam").update_assume_role_policy(
        RoleName=config.role_name, PolicyDocument=json.dumps(respelled)
    )
    assert plan_aurora_access(config) == []


def test_a_cluster_added_to_the_global_database_joins_the_trust_policy(
    stack, function_arns, account_id
):
    primary, secondary = unique("primary"), unique("secondary")
    primary_arn = create_cluster(primary)["DBClusterArn"]
    config = AuroraAccessConfig(primary, function_arns, prefix=unique("t"))
    apply_changes(plan_aurora_access(config))
    assert trust_policy(config.role_name) == rds_trust(account_id, [primary_arn])

    global_id = unique("global")
    boto3.client("rds").create_global_cluster(
        GlobalClusterIdentifier=global_id, SourceDBClusterIdentifier=primary_arn
    )
    secondary_arn = create_cluster(
        secondary, region="eu-west-1", instances=0, GlobalClusterIdentifier=global_id
    )["DBClusterArn"]

    plan = plan_aurora_access(config)
    assert (plan[0].action, plan[0].resource) == ("update", f"iam role {config.role_name}")
    assert plan[0].detail.endswith(
        "aws:SourceArn = " + ", ".join(sorted([primary_arn, secondary_arn]))
    )
    apply_changes(plan)
    assert trust_policy(config.role_name) == rds_trust(account_id, [primary_arn, secondary_arn])
    assert plan_aurora_access(config) == []


def test_the_trust_names_clusters_of_one_account_only():
    with pytest.raises(AuroraAccessError, match="the role serves clusters of one account; got "):
        aurora_policies.rds_trust_policy(
            [
                "arn:aws:rds:us-east-1:111111111111:cluster:a",
                "arn:aws:rds:eu-west-1:222222222222:cluster:b",
            ]
        )


def foreign_message(kind: str, name: str, prefix: str) -> str:
    return (
        f"{kind} {name} exists but does not carry this deployment's tags "
        f"(project=aurora-events, aurora-events:prefix={prefix}); it may belong to something "
        "else. Re-run with --adopt-existing-roles to take it over, or choose another prefix"
    )


def create_foreign_role(name: str) -> dict:
    """Someone else's role that happens to have our name: its own trust, policy and tag."""
    iam = boto3.client("iam")
    ec2_trust = service_trust_policy("ec2.amazonaws.com")
    iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(ec2_trust),
        Tags=[{"Key": "owner", "Value": "another-team"}],
    )
    iam.put_role_policy(
        RoleName=name,
        PolicyName="theirs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    return role_state(name)


def test_an_untagged_role_with_the_aurora_roles_name_is_refused_and_left_alone(
    config, cluster, account_id
):
    before = create_foreign_role(config.role_name)

    with pytest.raises(ForeignResourceError) as refused:
        plan_aurora_access(config)

    assert str(refused.value) == foreign_message("iam role", config.role_name, config.prefix)
    assert role_state(config.role_name) == before
    iam = boto3.client("iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException):  # the plan stopped before it
        iam.get_policy(PolicyArn=f"arn:aws:iam::{account_id}:policy/{config.policy_name}")
    assert describe_cluster(cluster)["AssociatedRoles"] == []


def test_adopt_existing_tags_the_untagged_aurora_role_and_converges_it(config, cluster, account_id):
    create_foreign_role(config.role_name)

    plan = plan_aurora_access(config, adopt_existing=True)
    assert [(c.action, c.resource, c.detail) for c in plan[1:3]] == [
        (
            "adopt",
            f"iam role {config.role_name}",
            f"tag it project=aurora-events, aurora-events:prefix={config.prefix}",
        ),
        (
            "update",
            f"iam role {config.role_name}",
            "trust policy: only rds.amazonaws.com may assume it only when "
            f"aws:SourceAccount = {account_id}; "
            f"aws:SourceArn = arn:aws:rds:us-east-1:{account_id}:cluster:{cluster}",
        ),
    ]
    apply_changes(plan)

    state = role_state(config.role_name)
    assert {t["Key"]: t["Value"] for t in state["tags"]} == {
        "owner": "another-team",
        "project": "aurora-events",
        "aurora-events:prefix": config.prefix,
    }
    assert state["trust"] == rds_trust(
        account_id, [f"arn:aws:rds:us-east-1:{account_id}:cluster:{cluster}"]
    )
    assert [p["PolicyName"] for p in state["attached"]] == [config.policy_name]
    assert plan_aurora_access(config) == []  # ours now: no refusal, nothing to do


def test_an_untagged_policy_with_the_invoke_policys_name_is_refused_then_adopted(
    config, account_id, function_arns
):
    iam = boto3.client("iam")
    theirs = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}],
    }
    policy_arn = iam.create_policy(
        PolicyName=config.policy_name, PolicyDocument=json.dumps(theirs)
    )["Policy"]["Arn"]

    with pytest.raises(ForeignResourceError) as refused:
        plan_aurora_access(config)
    assert str(refused.value) == foreign_message("iam policy", config.policy_name, config.prefix)
    assert policy_document(config) == theirs
    assert iam.list_policy_tags(PolicyArn=policy_arn)["Tags"] == []
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=config.role_name)

    plan = plan_aurora_access(config, adopt_existing=True)
    assert actions(plan[:2]) == [
        ("adopt", f"iam policy {config.policy_name}"),
        ("update", f"iam policy {config.policy_name}"),
    ]
    apply_changes(plan)
    assert {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=policy_arn)["Tags"]} == {
        "project": "aurora-events",
        "aurora-events:prefix": config.prefix,
    }
    assert policy_document(config)["Statement"][0]["Resource"] == sorted(
        [*function_arns, *(f"{arn}:*" for arn in function_arns)]
    )
    assert plan_aurora_access(config) == []


def test_a_role_tagged_for_another_prefix_is_not_ours_either(config):
    iam = boto3.client("iam")
    iam.create_role(
        RoleName=config.role_name,
        AssumeRolePolicyDocument=json.dumps(service_trust_policy("rds.amazonaws.com")),
        Tags=[
            {"Key": "project", "Value": "aurora-events"},
            {"Key": "aurora-events:prefix", "Value": "someone-elses"},
        ],
    )
    with pytest.raises(ForeignResourceError, match=f"^iam role {config.role_name} exists but"):
        plan_aurora_access(config)
