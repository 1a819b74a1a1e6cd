"""The doctor finds each deliberately broken link, and its suggested fix repairs it
(aws CLI lines run through boto3 by the API's own model, aurora-events lines through the
subcommands, SQL on the admin connection)."""

import json

import boto3
import pytest

from infra.aws import doctor
from infra.aws.aurora import policies as aurora_policies
from infra.aws.aurora import state as aurora_state
from infra.aws.aurora.config import AuroraAccessConfig
from infra.aws.aurora.context import AuroraContext
from infra.aws.aurora.order import plan_aurora_access
from infra.aws.changes import apply_changes
from infra.aws.doctor import chain
from infra.aws.doctor import network as network_doctor
from infra.aws.policy_documents import service_trust_policy, source_conditions
from infra.local import emulation
from tests.infra.aws.conftest import create_cluster, run_fix, unique

APP = "app@%"  # the stack's app user: holds the emulated AWS_LAMBDA_ACCESS as default role


def diagnose(config, admin, definer=APP, check_network=False, **options):
    """The doctor as the local callers run it: moto has no network to check."""
    return doctor.diagnose(config, definer, admin, check_network=check_network, **options)


def assert_repaired(config, admin, finding, definer=APP):
    """Run the finding's fix; the doctor then finds the whole chain in place."""
    run_fix(finding, admin)
    after = diagnose(config, admin, definer)
    assert after.finding is None, doctor.render_diagnosis(after)
    assert [r.link for r in after.links] == [
        "role",
        "policy",
        "parameter",
        "association",
        "grant",
        "functions",
    ]


def create_account(admin, user, *, role=False, default=False):
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%'")
        if role:
            cursor.execute(f"GRANT AWS_LAMBDA_ACCESS TO '{user}'@'%'")
        if default:
            cursor.execute(f"SET DEFAULT ROLE AWS_LAMBDA_ACCESS FOR '{user}'@'%'")


def test_a_complete_chain_passes_every_link_and_the_probe_answers(
    config, admin, database, test_functions, account_id
):
    apply_changes(plan_aurora_access(config))
    diagnosis = diagnose(
        config,
        admin,
        probe_function=test_functions.arns["test-echo"],
        probe_connection=database.connect(),
    )
    assert diagnosis.ok
    assert [(r.link, r.ok) for r in diagnosis.links] == [
        ("role", True),
        ("policy", True),
        ("parameter", True),
        ("association", True),
        ("grant", True),
        ("functions", True),
    ]
    assert json.loads(diagnosis.probe.result) == {"echo": {"ping": 1}, "function": "test-echo"}
    cluster_arn = f"arn:aws:rds:us-east-1:{account_id}:cluster:{config.cluster}"
    assert diagnosis.links[0].detail == (
        f"iam role {config.role_name} trusts rds.amazonaws.com only when "
        f"aws:SourceAccount = {account_id}; aws:SourceArn = {cluster_arn}"
    )
    text = doctor.render_diagnosis(diagnosis)
    assert "ok      grant        'app'@'%' holds AWS_LAMBDA_ACCESS, active" in text
    assert "network not checked: AWS_ENDPOINT_URL points at a local endpoint" in text
    assert text.endswith("every link checked is in place")


def cluster_arn(config, account_id) -> str:
    return f"arn:aws:rds:us-east-1:{account_id}:cluster:{config.cluster}"


def test_no_role(config, admin, account_id):
    diagnosis = diagnose(config, admin)
    finding = diagnosis.finding
    limits = f"aws:SourceAccount = {account_id}; aws:SourceArn = {cluster_arn(config, account_id)}"
    assert (finding.link, finding.problem) == (
        "role",
        f"iam role {config.role_name}: create (trusting rds.amazonaws.com only when {limits}); "
        f"iam role {config.role_name}: attach (policy {config.policy_name}): less trust keeps "
        "Aurora out, more lets others in",
    )
    # Nothing of the chain exists: the fix is the whole apply.
    assert finding.fix == doctor.apply_command(config)
    assert finding.fix.startswith(f"aurora-events aurora apply --cluster {config.cluster} ")
    assert diagnosis.not_checked == ["policy", "parameter", "association", "grant", "functions"]
    assert_repaired(config, admin, finding)


def test_wrong_trust(config, admin):
    apply_changes(plan_aurora_access(config))
    ec2_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    boto3.client("iam").update_assume_role_policy(
        RoleName=config.role_name, PolicyDocument=json.dumps(ec2_trust)
    )
    finding = diagnose(config, admin).finding
    assert finding.link == "role"
    assert finding.problem.startswith(
        f"iam role {config.role_name}: update (trust policy: only rds.amazonaws.com may "
        "assume it only when aws:SourceAccount = "
    )
    assert finding.fix == doctor.apply_command(config) + " --only role"
    assert_repaired(config, admin, finding)


@pytest.mark.parametrize("kind", ["conditions-stripped", "another-account", "another-cluster"])
def test_trust_without_this_clusters_source_conditions(config, admin, account_id, kind):
    apply_changes(plan_aurora_access(config))
    cluster_arn = f"arn:aws:rds:us-east-1:{account_id}:cluster:{config.cluster}"
    conditions = {
        "conditions-stripped": None,
        "another-account": source_conditions(
            "000000000000", ["arn:aws:rds:us-east-1:000000000000:cluster:theirs"]
        ),
        "another-cluster": source_conditions(
            account_id, [f"arn:aws:rds:us-east-1:{account_id}:cluster:other"]
        ),
    }[kind]
    hostile = service_trust_policy("rds.amazonaws.com", conditions)
    boto3.client("iam").update_assume_role_policy(
        RoleName=config.role_name, PolicyDocument=json.dumps(hostile)
    )

    finding = diagnose(config, admin).finding
    limits = f"aws:SourceAccount = {account_id}; aws:SourceArn = {cluster_arn}"
    assert finding.link == "role"
    assert finding.problem == (
        f"iam role {config.role_name}: update (trust policy: only rds.amazonaws.com may assume "
        f"it only when {limits}): less trust keeps Aurora out, more lets others in"
    )
    assert finding.fix == doctor.apply_command(config) + " --only role"
    assert_repaired(config, admin, finding)
    # The fix wrote exactly the trust the plan declares.
    desired = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
        '{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole","Condition":'
        f'{{"StringEquals":{{"aws:SourceAccount":"{account_id}"}},'
        f'"ArnEquals":{{"aws:SourceArn":["{cluster_arn}"]}}}}}}]}}'
    )
    trust = boto3.client("iam").get_role(RoleName=config.role_name)["Role"]
    assert doctor.compact_json(trust["AssumeRolePolicyDocument"]) == desired


def test_policy_missing_a_function(config, admin, function_arns):
    apply_changes(plan_aurora_access(config))
    notify, email = function_arns
    iam = boto3.client("iam")
    (attached,) = iam.list_attached_role_policies(RoleName=config.role_name)["AttachedPolicies"]
    iam.create_policy_version(
        PolicyArn=attached["PolicyArn"],
        PolicyDocument=json.dumps(aurora_policies.invoke_policy_document([notify])),
        SetAsDefault=True,
    )
    finding = diagnose(config, admin).finding
    assert finding.link == "policy"
    assert finding.problem == (
        f"iam policy {config.policy_name}: update (new default version: + Allow "
        f"lambda:InvokeFunction on {email}; + Allow lambda:InvokeFunction on {email}:*): Aurora "
        "may invoke only what the policy allows"
    )
    assert finding.fix_kind == "aurora-events"
    assert finding.fix == doctor.apply_command(config) + " --only policy"
    assert_repaired(config, admin, finding)


def test_parameter_unset(config, admin, cluster):
    apply_changes(plan_aurora_access(config))
    rds = boto3.client("rds")
    bare = unique("bare-params")
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=bare,
        DBParameterGroupFamily="aurora-mysql8.0",
        Description="someone moved the cluster here",
    )
    rds.modify_db_cluster(DBClusterIdentifier=cluster, DBClusterParameterGroupName=bare)
    finding = diagnose(config, admin).finding
    assert finding.link == "parameter"
    assert finding.problem.startswith(
        f"parameter aws_default_lambda_role of db cluster parameter group {bare} (us-east-1): "
        "set ((unset) -> arn:aws:iam::"
    )
    assert finding.fix == doctor.apply_command(config) + " --only parameter"
    assert_repaired(config, admin, finding)


def test_role_not_associated(config, admin, cluster, account_id):
    # moto cannot remove an association: make the chain without it instead.
    apply_changes(c for c in plan_aurora_access(config) if c.action != "associate")
    finding = diagnose(config, admin).finding
    role_arn = f"arn:aws:iam::{account_id}:role/{config.role_name}"
    assert (finding.link, finding.problem) == (
        "association",
        f"db cluster {cluster} (us-east-1): associate (iam role {config.role_name}): Aurora "
        "cannot assume a role not associated with its cluster",
    )
    assert finding.fix == doctor.apply_command(config) + " --only association"
    assert_repaired(config, admin, finding)
    roles = boto3.client("rds").describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
    assert [r["RoleArn"] for r in roles["AssociatedRoles"]] == [role_arn]
    assert_repaired(config, admin, finding)


def test_grant_missing(config, admin):
    apply_changes(plan_aurora_access(config))
    user = unique("nogrant")
    create_account(admin, user)
    finding = diagnose(config, admin, f"{user}@%").finding
    assert finding.link == "grant"
    assert finding.problem.startswith(f"'{user}'@'%' does not hold AWS_LAMBDA_ACCESS")
    assert finding.fix == (
        f"GRANT AWS_LAMBDA_ACCESS TO '{user}'@'%';\n"
        f"SET DEFAULT ROLE AWS_LAMBDA_ACCESS FOR '{user}'@'%';"
    )
    assert_repaired(config, admin, finding, f"{user}@%")


def test_role_granted_but_not_default(config, admin):
    apply_changes(plan_aurora_access(config))
    user = unique("notdefault")
    create_account(admin, user, role=True)
    finding = diagnose(config, admin, f"{user}@%").finding
    assert finding.link == "grant"
    assert finding.problem.startswith(
        f"'{user}'@'%' holds AWS_LAMBDA_ACCESS but not as a default role"
    )
    assert finding.fix == f"SET DEFAULT ROLE AWS_LAMBDA_ACCESS FOR '{user}'@'%';"
    assert_repaired(config, admin, finding, f"{user}@%")


def test_v2_privilege_missing(config, admin, emulated_v2):
    apply_changes(plan_aurora_access(config))
    finding = diagnose(config, admin).finding  # the app user's v3 role does not count on v2
    assert finding.link == "grant"
    assert finding.problem.startswith("'app'@'%' does not hold INVOKE LAMBDA")
    assert finding.fix == (
        "INSERT IGNORE INTO aurora_emulation.invoke_lambda_grants (User, Host) VALUES ('app', '%');"
    )
    run_fix(finding, admin)
    assert diagnose(config, admin).finding is None
    with admin.cursor() as cursor:  # leave the app user as other tests expect it
        cursor.execute("DELETE FROM aurora_emulation.invoke_lambda_grants WHERE User = 'app'")


def test_a_definer_that_is_no_account_names_the_accounts_there_are(config, admin):
    apply_changes(plan_aurora_access(config))
    finding = diagnose(config, admin, "app@localhost").finding
    assert finding.link == "grant"
    assert finding.problem.startswith(
        "no account 'app'@'localhost' on this server; the accounts named 'app': 'app'@'%'"
    )


def test_a_function_that_does_not_exist(stack, admin, cluster, function_arns, account_id):
    ghost = f"arn:aws:lambda:us-east-1:{account_id}:function:{unique('ghost')}"
    config = AuroraAccessConfig(cluster, (*function_arns, ghost), prefix=unique("t"))
    apply_changes(plan_aurora_access(config))
    finding = diagnose(config, admin).finding
    assert (finding.link, finding.problem) == ("functions", f"no such function: {ghost}")


def test_the_probe_reports_the_error_aurora_would_give(config, admin, database, test_functions):
    diagnosis = diagnose(
        config,
        admin,
        probe_function="arn:aws:s3:::not-a-function",
        probe_connection=database.connect(),
    )
    assert diagnosis.probe.error.startswith("1873 Lambda API returned error: Invalid function name")
    assert "probe: SELECT lambda_sync('arn:aws:s3:::not-a-function'" in doctor.render_diagnosis(
        diagnosis
    )


def test_network_link_on_a_vpc_without_a_route_suggests_a_lambda_endpoint(config, admin, cluster):
    """The network link runs only against AWS; here it is forced on against moto's VPC."""
    ec2, rds = boto3.client("ec2"), boto3.client("rds")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"))
    ]
    group = unique("private-subnets")
    rds.create_db_subnet_group(
        DBSubnetGroupName=group, DBSubnetGroupDescription="private", SubnetIds=subnets
    )
    identifier = unique("private")
    create_cluster(identifier, instances=0, DBSubnetGroupName=group)
    private = AuroraAccessConfig(identifier, config.function_arns, config.prefix)
    apply_changes(plan_aurora_access(private))

    diagnosis = diagnose(private, admin, check_network=True)
    finding = diagnosis.finding
    assert finding.link == "network"
    assert finding.problem.startswith(
        f"subnet(s) {', '.join(subnets)} of db subnet group {group} have no route to Lambda"
    )
    assert finding.fix.startswith(
        f"aws ec2 create-vpc-endpoint --region us-east-1 --vpc-id {vpc} --vpc-endpoint-type "
        "Interface --service-name com.amazonaws.us-east-1.lambda --subnet-ids "
    )
    run_fix(finding, admin)
    fixed = diagnose(private, admin, check_network=True)
    assert fixed.finding is None
    assert fixed.links[-1].detail == f"VPC {vpc} has a Lambda interface endpoint"


def test_policy_evaluation_follows_iams_wildcards_and_denies():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    allow_all = {"Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}
    assert doctor.uncovered_resources([allow_all], [arn]) == []
    exact_only = {
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn}]
    }
    assert doctor.uncovered_resources([exact_only], [arn]) == [f"{arn}:*"]
    denied = {"Statement": [{"Effect": "Deny", "Action": "lambda:Invoke*", "Resource": f"{arn}*"}]}
    assert doctor.uncovered_resources([allow_all, denied], [arn]) == [arn, f"{arn}:*"]


@pytest.mark.parametrize(
    ("routes", "via"),
    [
        (
            [{"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"}],
            "nat-1",
        ),
        ([{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"}], "igw-1"),
        (
            [{"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "blackhole"}],
            None,
        ),
        ([{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"}], None),
    ],
)
def test_routes_to_the_internet(routes, via):
    assert (
        network_doctor.route_to_internet(network_doctor.RouteTable("rtb-1", tuple(routes))) == via
    )


def test_a_pending_reboot_is_a_broken_parameter_link_and_a_reboot_its_fix(config, account_id):
    # moto reports no instance waiting for a reboot: the cluster is described by hand, its
    # parameter group is moto's, with the parameter set (only the reboot is missing).
    apply_changes(plan_aurora_access(config))
    role_arn = f"arn:aws:iam::{account_id}:role/{config.role_name}"
    rds, group = boto3.client("rds"), unique("mine")
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=group, DBParameterGroupFamily="aurora-mysql8.0", Description="d"
    )
    setting = {"ParameterName": "aws_default_lambda_role", "ParameterValue": role_arn}
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName=group, Parameters=[{**setting, "ApplyMethod": "immediate"}]
    )
    cluster = aurora_state.ClusterState(
        identifier=config.cluster,
        arn=cluster_arn(config, account_id),
        region="us-east-1",
        engine="aurora-mysql",
        engine_version="8.0.mysql_aurora.3.05.2",
        parameter_group=group,
        subnet_group=None,
        security_groups=(),
        roles={role_arn: "ACTIVE"},
        members=(aurora_state.Member("c-0", True, "pending-reboot"),),
    )
    result = chain.check_parameter(AuroraContext(config, clusters=[cluster]))
    assert result.finding.problem == (
        f"db instance c-0 (us-east-1): reboot (so that db cluster {config.cluster}'s parameters "
        "apply (writer)): the parameters wait for a reboot"
    )
    assert result.finding.fix == doctor.apply_command(config) + " --only reboot --reboot"


def test_the_emulated_version_setting_is_checked(admin):
    with pytest.raises(emulation.EmulationError, match="must be 2 or 3"):
        emulation.set_emulated_aurora_version(admin, 1)
    assert emulation.emulated_aurora_version(admin) == 3


def test_the_role_of_a_global_database_must_trust_every_cluster_of_it(
    stack, admin, function_arns, account_id
):
    primary, secondary = unique("gprimary"), unique("gsecondary")
    primary_arn = create_cluster(primary)["DBClusterArn"]
    global_id = unique("gglobal")
    boto3.client("rds").create_global_cluster(
        GlobalClusterIdentifier=global_id, SourceDBClusterIdentifier=primary_arn
    )
    secondary_arn = create_cluster(
        secondary, region="eu-west-1", instances=0, GlobalClusterIdentifier=global_id
    )["DBClusterArn"]
    config = AuroraAccessConfig(primary, function_arns, prefix=unique("t"))
    apply_changes(plan_aurora_access(config))
    limits = f"aws:SourceAccount = {account_id}; aws:SourceArn = " + ", ".join(
        sorted([primary_arn, secondary_arn])
    )
    role = diagnose(config, admin).links[0]
    assert (role.ok, role.detail) == (
        True,
        f"iam role {config.role_name} trusts rds.amazonaws.com only when {limits}",
    )

    primary_only = service_trust_policy(
        "rds.amazonaws.com", source_conditions(account_id, [primary_arn])
    )
    boto3.client("iam").update_assume_role_policy(
        RoleName=config.role_name, PolicyDocument=json.dumps(primary_only)
    )
    finding = diagnose(config, admin).finding
    assert finding.problem.startswith(
        f"iam role {config.role_name}: update (trust policy: only rds.amazonaws.com may assume "
        f"it only when {limits}): "
    )
    run_fix(finding, admin)
    assert diagnose(config, admin).finding is None
