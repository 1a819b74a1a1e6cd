"""The optional RDS Proxy and interface VPC endpoints, planned and applied on moto: what
apply creates (documents, rules, targets, the drain's environment), idempotence, drift,
turning a setting off, refusals, and destroy leaving nothing tagged."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

import boto3
import pytest

from infra.aws.changes import PlanError, apply_changes, describe_plan
from infra.aws.policy_documents import service_trust_policy
from infra.aws.resources import order
from infra.aws.resources.context import Context
from infra.aws.resources.rds_proxy import RdsProxy, proxy_drift, proxy_settings
from infra.aws.resources.vpc_endpoints import VpcEndpoints
from infra.aws.resources.vpc_endpoints_settings import (
    ForeignEndpointError,
    https_rule,
    ingress_drift,
    one_subnet_per_zone,
)
from infra.aws.tags import project_tags, tag_list
from infra.catalog import FUNCTIONS
from tests.infra.aws.conftest import create_cluster, run_aurora_events, unique
from tests.infra.aws.test_event_path import UNVENDORED, new_path

_networks = itertools.count(1)


@dataclass(frozen=True)
class Network:
    """A VPC with DNS hostnames, subnets in two zones (two in the first), the functions'
    security group and an Aurora MySQL cluster in a security group of its own."""

    vpc: str
    subnet_a: str
    subnet_b: str
    subnet_a2: str  # the same zone as subnet_a
    functions_group: str
    cluster_group: str
    cluster: str


def make_network(dns_hostnames: bool = True) -> Network:
    ec2 = boto3.client("ec2")
    region = ec2.meta.region_name
    number = next(_networks)
    vpc = ec2.create_vpc(CidrBlock=f"10.{number}.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": dns_hostnames})

    def subnet(third: int, zone: str) -> str:
        return ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{number}.{third}.0/24", AvailabilityZone=region + zone
        )["Subnet"]["SubnetId"]

    def group(name: str) -> str:
        return ec2.create_security_group(GroupName=unique(name), Description="test", VpcId=vpc)[
            "GroupId"
        ]

    cluster_group = group("cluster")
    cluster = unique("netcluster")
    create_cluster(cluster, VpcSecurityGroupIds=[cluster_group])
    return Network(
        vpc=vpc,
        subnet_a=subnet(1, "a"),
        subnet_b=subnet(2, "b"),
        subnet_a2=subnet(3, "a"),
        functions_group=group("drain"),
        cluster_group=cluster_group,
        cluster=cluster,
    )


@pytest.fixture
def network(stack) -> Network:
    return make_network()


def networked_path(network: Network, **options) -> Context:
    """An event path of its own in ``network`` (its drain and relay in the subnets)."""
    return new_path(
        cluster=network.cluster,
        subnet_ids=(network.subnet_a, network.subnet_b),
        security_group_ids=(network.functions_group,),
        **options,
    )


def with_settings(path: Context, **settings) -> Context:
    """The same deployment with other settings (as a user edits deploy.toml)."""
    changed = Context(replace(path.deployment, **settings), options=UNVENDORED)
    changed.secret = path.secret
    return changed


@pytest.fixture
def proxy_path(network):
    path = networked_path(network, rds_proxy=True)
    yield path
    apply_changes(order.plan_destroy(path))


@pytest.fixture
def endpoints_path(network):
    path = networked_path(network, vpc_endpoints=True)
    yield path
    apply_changes(order.plan_destroy(path))


def resources(changes) -> list[str]:
    return [f"{change.action} {change.resource}" for change in changes]


def proxy_of(prefix: str) -> dict:
    return boto3.client("rds").describe_db_proxies(DBProxyName=f"{prefix}-proxy")["DBProxies"][0]


def environment_of(prefix: str, function: str) -> dict:
    configuration = boto3.client("lambda").get_function_configuration(
        FunctionName=f"{prefix}-{function}"
    )
    return configuration["Environment"]["Variables"]


def tags_dict(tags) -> dict:
    return {tag["Key"]: tag["Value"] for tag in tags}


# -- RDS Proxy ---------------------------------------------------------------------------


def test_apply_puts_the_drain_behind_a_proxy_whose_role_reads_only_its_secret(
    proxy_path, network, account_id
):
    prefix = proxy_path.deployment.prefix
    planned = resources(order.plan(proxy_path))
    # The proxy (and its endpoint) exists before the drain is created with it.
    assert planned.index(f"create rds proxy {prefix}-proxy") < planned.index(
        f"create lambda function {prefix}-drain"
    )
    apply_changes(order.plan(proxy_path))

    rds, iam = boto3.client("rds"), boto3.client("iam")
    proxy = proxy_of(prefix)
    assert proxy["EngineFamily"] == "MYSQL"
    assert proxy["RoleArn"] == f"arn:aws:iam::{account_id}:role/{prefix}-proxy"
    assert [(a["AuthScheme"], a["SecretArn"], a["IAMAuth"]) for a in proxy["Auth"]] == [
        ("SECRETS", proxy_path.secret, "DISABLED")
    ]
    assert sorted(proxy["VpcSubnetIds"]) == sorted([network.subnet_a, network.subnet_b])
    assert proxy["VpcSecurityGroupIds"] == [network.functions_group]
    assert proxy["RequireTLS"] is True
    tags = rds.list_tags_for_resource(ResourceName=proxy["DBProxyArn"])["TagList"]
    assert tags_dict(tags) == project_tags(prefix)

    role = iam.get_role(RoleName=f"{prefix}-proxy")["Role"]
    region = rds.meta.region_name
    # RDS may assume it for a proxy of this account and region only (the proxy's id is
    # made when it is created, after the role: the ARN is the account's proxies' pattern).
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "rds.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": [f"arn:aws:rds:{region}:{account_id}:db-proxy:*"]},
            },
        }
    ]
    assert proxy["DBProxyArn"].startswith(f"arn:aws:rds:{region}:{account_id}:db-proxy:")
    assert iam.list_role_policies(RoleName=f"{prefix}-proxy")["PolicyNames"] == [
        "read-database-secret"
    ]
    assert iam.list_attached_role_policies(RoleName=f"{prefix}-proxy")["AttachedPolicies"] == []
    policy = iam.get_role_policy(RoleName=f"{prefix}-proxy", PolicyName="read-database-secret")
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "ReadDatabaseSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": proxy_path.secret,
        }
    ]

    targets = rds.describe_db_proxy_targets(DBProxyName=f"{prefix}-proxy")["Targets"]
    assert [(t["Type"], t["RdsResourceId"]) for t in targets] == [
        ("TRACKED_CLUSTER", network.cluster)
    ]

    drain = environment_of(prefix, "drain")
    assert drain["DATABASE_HOST"] == proxy["Endpoint"]
    assert drain["DATABASE_TLS"] == "true"
    assert drain["DATABASE_SECRET_ID"] == f"{prefix}-db"
    # The relay keeps its own account and connects to the cluster (its secret's host).
    relay = environment_of(prefix, "relay")
    assert relay["DATABASE_SECRET_ID"] == f"{prefix}-relay-db"
    assert "DATABASE_HOST" not in relay and "DATABASE_TLS" not in relay

    second = order.plan(proxy_path)
    assert second == [], describe_plan(second)


def test_a_proxy_role_trusted_without_conditions_is_tightened_by_one_update(proxy_path, account_id):
    """What a deployment made before the conditions has: RDS may assume the role for any
    resource of any account. Apply puts the conditions back, and then changes nothing."""
    apply_changes(order.plan(proxy_path))
    prefix = proxy_path.deployment.prefix
    iam = boto3.client("iam")
    iam.update_assume_role_policy(
        RoleName=f"{prefix}-proxy",
        PolicyDocument=json.dumps(service_trust_policy("rds.amazonaws.com")),
    )
    region = iam.meta.region_name
    pattern = f"arn:aws:rds:{region}:{account_id}:db-proxy:*"
    plan = order.plan(proxy_path)
    assert [(c.action, c.resource, c.detail) for c in plan] == [
        (
            "update",
            f"iam role {prefix}-proxy",
            "trust policy: only rds.amazonaws.com may assume it only when "
            f"aws:SourceAccount = {account_id}; aws:SourceArn = {pattern}",
        )
    ]
    apply_changes(plan)
    trust = iam.get_role(RoleName=f"{prefix}-proxy")["Role"]["AssumeRolePolicyDocument"]
    assert trust == service_trust_policy("rds.amazonaws.com", proxy_source_conditions_of(pattern))
    assert order.plan(proxy_path) == []


def proxy_source_conditions_of(pattern: str) -> dict:
    account = pattern.split(":")[4]
    return {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": [pattern]},
    }


def test_a_proxy_turned_on_later_takes_the_existing_drain_and_off_gives_it_back(network):
    path = networked_path(network)
    try:
        apply_changes(order.plan(path))
        prefix = path.deployment.prefix
        assert "DATABASE_HOST" not in environment_of(prefix, "drain")

        on = with_settings(path, rds_proxy=True)
        planned = resources(order.plan(on))
        # The drain's change is computed when it runs: the endpoint does not exist yet.
        assert planned.index(f"create rds proxy {prefix}-proxy") < planned.index(
            f"update lambda function {prefix}-drain"
        )
        apply_changes(order.plan(on))
        assert environment_of(prefix, "drain")["DATABASE_HOST"] == proxy_of(prefix)["Endpoint"]
        assert order.plan(on) == []

        off = with_settings(path, rds_proxy=False)
        planned = resources(order.plan(off))
        # The drain leaves the proxy before the proxy goes.
        assert planned.index(f"update lambda function {prefix}-drain") < planned.index(
            f"delete rds proxy {prefix}-proxy"
        )
        assert f"delete iam role {prefix}-proxy" in planned
        apply_changes(order.plan(off))
        drain = environment_of(prefix, "drain")
        assert "DATABASE_HOST" not in drain and "DATABASE_TLS" not in drain
        rds = boto3.client("rds")
        with pytest.raises(rds.exceptions.DBProxyNotFoundFault):
            proxy_of(prefix)
        iam = boto3.client("iam")
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_role(RoleName=f"{prefix}-proxy")
        assert order.plan(off) == []
    finally:
        apply_changes(order.plan_destroy(path))


def test_a_proxy_moved_to_other_subnets_is_replaced_and_the_drain_follows(proxy_path, network):
    prefix = proxy_path.deployment.prefix
    apply_changes(order.plan(proxy_path))
    old_endpoint = proxy_of(prefix)["Endpoint"]

    moved = with_settings(proxy_path, subnet_ids=(network.subnet_a2, network.subnet_b))
    planned = resources(order.plan(moved))
    assert f"replace rds proxy {prefix}-proxy" in planned
    assert f"register rds proxy {prefix}-proxy target" in planned
    assert planned.index(f"replace rds proxy {prefix}-proxy") < planned.index(
        f"update lambda function {prefix}-drain"
    )
    apply_changes(order.plan(moved))

    proxy = proxy_of(prefix)
    assert proxy["Endpoint"] != old_endpoint
    assert sorted(proxy["VpcSubnetIds"]) == sorted([network.subnet_a2, network.subnet_b])
    targets = boto3.client("rds").describe_db_proxy_targets(DBProxyName=f"{prefix}-proxy")
    assert [t["RdsResourceId"] for t in targets["Targets"]] == [network.cluster]
    assert environment_of(prefix, "drain")["DATABASE_HOST"] == proxy["Endpoint"]
    assert order.plan(moved) == []


def test_a_secret_under_a_customer_key_lets_the_proxy_decrypt_it_through_secrets_manager(
    network,
):
    key = boto3.client("kms").create_key(Description="test")["KeyMetadata"]
    name = unique("cmk-secret")
    secret = boto3.client("secretsmanager").create_secret(
        Name=name,
        SecretString='{"username": "u", "password": "p", "host": "h"}',
        KmsKeyId=key["Arn"],
    )["ARN"]
    path = networked_path(network, rds_proxy=True)
    path = Context(replace(path.deployment, database_secret_id=name), options=UNVENDORED)
    try:
        apply_changes(path.resource(RdsProxy).plan())
        document = boto3.client("iam").get_role_policy(
            RoleName=f"{path.deployment.prefix}-proxy", PolicyName="read-database-secret"
        )["PolicyDocument"]
        region = path.target.region
        assert document["Statement"] == [
            {
                "Sid": "ReadDatabaseSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": secret,
            },
            {
                "Sid": "DecryptDatabaseSecret",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": key["Arn"],
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                },
            },
        ]
        assert list(path.resource(RdsProxy).plan()) == []
    finally:
        apply_changes(path.resource(RdsProxy).plan_destroy())


def test_the_proxy_is_refused_without_what_it_needs(stack, network):
    bare = new_path(rds_proxy=True)
    with pytest.raises(PlanError, match="cluster, subnet_ids, security_group_ids are not set"):
        order.plan(bare)
    both = networked_path(network, rds_proxy=True, database_host="proxy.example")
    with pytest.raises(PlanError, match="database_host is set .'proxy.example'.: the drain"):
        list(both.resource(RdsProxy).plan())
    missing = networked_path(network, rds_proxy=True)
    missing = with_settings(missing, cluster="no-such-cluster")
    with pytest.raises(PlanError, match="cluster 'no-such-cluster' does not exist"):
        list(missing.resource(RdsProxy).plan())
    nothing = networked_path(network, rds_proxy=True)
    nothing = with_settings(nothing, database_secret_id="no/such/secret")
    with pytest.raises(PlanError, match="secret 'no/such/secret' .database_secret_id. does not"):
        list(nothing.resource(RdsProxy).plan())


def test_deploy_plan_says_in_one_line_what_the_proxy_lacks(capsys, stack, monkeypatch):
    prefix = unique("clinet")
    for setting, name in (("DATABASE_SECRET_ID", "db"), ("RELAY_DATABASE_SECRET_ID", "relay-db")):
        boto3.client("secretsmanager").create_secret(Name=f"{prefix}-{name}", SecretString="{}")
        monkeypatch.setenv(f"AURORA_EVENTS_{setting}", f"{prefix}-{name}")
    monkeypatch.setenv("AURORA_EVENTS_RDS_PROXY", "true")
    assert run_aurora_events(f"aurora-events deploy plan --prefix {prefix}") == 2
    assert capsys.readouterr().err.splitlines() == [
        "aurora-events: rds_proxy is on but cluster, subnet_ids, security_group_ids are not "
        "set: the proxy needs the cluster it fronts, subnets and security groups to run in, "
        "and the drain's secret (database_secret_id) to log in with"
    ]


# -- VPC endpoints -----------------------------------------------------------------------


def endpoints_in(vpc: str) -> dict[str, dict]:
    found = boto3.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}]
    )["VpcEndpoints"]
    return {e["ServiceName"]: e for e in found if e["State"].lower() != "deleted"}


def endpoints_group(prefix: str, vpc: str) -> dict | None:
    groups = boto3.client("ec2").describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [f"{prefix}-endpoints"]},
            {"Name": "vpc-id", "Values": [vpc]},
        ]
    )["SecurityGroups"]
    return groups[0] if groups else None


def https_sources(group: dict) -> list[tuple]:
    return sorted(
        (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), pair["GroupId"])
        for p in group["IpPermissions"]
        for pair in p.get("UserIdGroupPairs", [])
    ) + sorted(
        (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
        for p in group["IpPermissions"]
        for r in p.get("IpRanges", [])
    )


def test_apply_makes_private_endpoints_open_to_https_from_the_functions_and_the_cluster(
    endpoints_path, network
):
    prefix, region = endpoints_path.deployment.prefix, endpoints_path.target.region
    # Two subnets in one zone: an interface endpoint takes the first of them.
    path = with_settings(
        endpoints_path, subnet_ids=(network.subnet_a, network.subnet_a2, network.subnet_b)
    )
    apply_changes(order.plan(path))

    group = endpoints_group(prefix, network.vpc)
    assert group is not None
    assert tags_dict(group["Tags"]) == project_tags(prefix)
    assert https_sources(group) == sorted(
        [
            ("tcp", 443, 443, network.functions_group),
            ("tcp", 443, 443, network.cluster_group),
        ]
    )
    endpoints = endpoints_in(network.vpc)
    assert sorted(endpoints) == [
        f"com.amazonaws.{region}.lambda",
        f"com.amazonaws.{region}.secretsmanager",
    ]
    for endpoint in endpoints.values():
        assert endpoint["VpcEndpointType"] == "Interface"
        assert sorted(endpoint["SubnetIds"]) == sorted([network.subnet_a, network.subnet_b])
        assert endpoint["PrivateDnsEnabled"] is True
        assert [g["GroupId"] for g in endpoint["Groups"]] == [group["GroupId"]]
        assert tags_dict(endpoint["Tags"]) == project_tags(prefix)
    second = order.plan(path)
    assert second == [], describe_plan(second)

    # Rules added and removed by hand are put back: HTTPS from exactly those groups.
    ec2 = boto3.client("ec2")
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "UserIdGroupPairs": [{"GroupId": network.functions_group}],
            },
        ],
    )
    ec2.revoke_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": network.cluster_group}],
            }
        ],
    )
    drift = order.plan(path)
    assert resources(drift) == [f"update security group {prefix}-endpoints"]
    apply_changes(drift)
    assert https_sources(endpoints_group(prefix, network.vpc)) == sorted(
        [
            ("tcp", 443, 443, network.functions_group),
            ("tcp", 443, 443, network.cluster_group),
        ]
    )
    assert order.plan(path) == []

    # Turned off: the endpoints and their group go.
    off = with_settings(path, vpc_endpoints=False)
    planned = resources(order.plan(off))
    assert sorted(planned) == sorted(
        [f"delete vpc endpoint {e['VpcEndpointId']}" for e in endpoints.values()]
        + [f"delete security group {prefix}-endpoints"]
    )
    apply_changes(order.plan(off))
    assert endpoints_in(network.vpc) == {}
    assert endpoints_group(prefix, network.vpc) is None
    assert order.plan(off) == []


def test_the_endpoints_let_through_this_accounts_principals_to_this_deployments_resources(
    endpoints_path, network, account_id
):
    """Each endpoint's policy, as EC2 stores it: the path's one action, principals of this
    account, the deployment's two secrets (whatever suffix Secrets Manager gave them) or
    its functions; a policy widened by hand is put back, and a second apply changes nothing."""
    apply_changes(order.plan(endpoints_path))
    prefix, region = endpoints_path.deployment.prefix, endpoints_path.target.region
    endpoints = endpoints_in(network.vpc)
    policies = {
        name.rsplit(".", 1)[1]: json.loads(endpoint["PolicyDocument"])
        for name, endpoint in endpoints.items()
    }
    secrets = [
        f"arn:aws:secretsmanager:{region}:{account_id}:secret:{prefix}-db-??????",
        f"arn:aws:secretsmanager:{region}:{account_id}:secret:{prefix}-relay-db-??????",
    ]
    functions = [
        f"arn:aws:lambda:{region}:{account_id}:function:{prefix}-{spec.name}" for spec in FUNCTIONS
    ]

    def allowing(actions, resources):
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ThisDeploymentOnly",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": actions,
                    "Resource": sorted(resources),
                    "Condition": {"StringEquals": {"aws:PrincipalAccount": account_id}},
                }
            ],
        }

    assert policies == {
        "secretsmanager": allowing(["secretsmanager:GetSecretValue"], secrets),
        "lambda": allowing(
            ["lambda:InvokeFunction"], [*functions, *(f"{arn}:*" for arn in functions)]
        ),
    }
    # The patterns name the secrets that exist, and not a secret whose name only begins so.
    secrets_client = boto3.client("secretsmanager")
    real = [
        secrets_client.describe_secret(SecretId=f"{prefix}-{n}")["ARN"] for n in ("db", "relay-db")
    ]
    other = secrets_client.create_secret(Name=f"{prefix}-db-other", SecretString="{}")["ARN"]
    assert [any(fnmatchcase(arn, p) for p in secrets) for arn in [*real, other]] == [
        True,
        True,
        False,
    ]
    lambda_client = boto3.client("lambda")
    for spec in FUNCTIONS:
        arn = lambda_client.get_function(FunctionName=f"{prefix}-{spec.name}")["Configuration"][
            "FunctionArn"
        ]
        assert arn in functions
    assert order.plan(endpoints_path) == []

    # Someone opens the Lambda endpoint to everything: apply narrows it again.
    lambda_endpoint = endpoints[f"com.amazonaws.{region}.lambda"]
    boto3.client("ec2").modify_vpc_endpoint(
        VpcEndpointId=lambda_endpoint["VpcEndpointId"],
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
                ],
            }
        ),
    )
    drift = order.plan(endpoints_path)
    assert [(c.action, c.resource, c.detail) for c in drift] == [
        (
            "update",
            f"vpc endpoint com.amazonaws.{region}.lambda",
            f"policy -> InvokeFunction on {2 * len(FUNCTIONS)} resource(s) of this deployment, "
            f"principals of account {account_id} only",
        )
    ]
    apply_changes(drift)
    after = json.loads(
        endpoints_in(network.vpc)[f"com.amazonaws.{region}.lambda"]["PolicyDocument"]
    )
    assert after == policies["lambda"]
    assert order.plan(endpoints_path) == []
    secrets_client.delete_secret(SecretId=other, ForceDeleteWithoutRecovery=True)


def test_the_endpoints_are_refused_without_subnets_dns_or_cluster_or_beside_anothers(
    stack, network
):
    bare = new_path(vpc_endpoints=True)
    with pytest.raises(PlanError, match="vpc_endpoints is on but subnet_ids is not set"):
        order.plan(bare)

    no_dns = make_network(dns_hostnames=False)
    path = networked_path(no_dns, vpc_endpoints=True)
    with pytest.raises(PlanError, match=f"VPC {no_dns.vpc} has enableDnsHostnames off") as refused:
        list(path.resource(VpcEndpoints).plan())
    assert f"--vpc-id {no_dns.vpc} --enable-dns-hostnames" in str(refused.value)

    no_cluster = with_settings(networked_path(network, vpc_endpoints=True), cluster="")
    with pytest.raises(PlanError, match="cluster is not set: the Lambda endpoint admits"):
        list(no_cluster.resource(VpcEndpoints).plan())

    ec2 = boto3.client("ec2")
    region = ec2.meta.region_name
    theirs = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=network.vpc,
        ServiceName=f"com.amazonaws.{region}.secretsmanager",
        SubnetIds=[network.subnet_a],
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]["VpcEndpointId"]
    beside = networked_path(network, vpc_endpoints=True)
    with pytest.raises(ForeignEndpointError, match=f"{theirs} already serves"):
        list(beside.resource(VpcEndpoints).plan())
    ec2.delete_vpc_endpoints(VpcEndpointIds=[theirs])


# -- both, off and destroyed -------------------------------------------------------------


def test_with_the_settings_off_nothing_of_theirs_is_planned(path):
    prefix = path.deployment.prefix
    planned = resources(order.plan(path))
    assert not [
        r
        for r in planned
        if "rds proxy" in r
        or "vpc endpoint" in r
        or "security group" in r
        or r.endswith(f"{prefix}-proxy")
    ]


def test_destroy_removes_the_proxy_and_endpoints_and_only_those_tagged(network):
    path = networked_path(network, rds_proxy=True, vpc_endpoints=True)
    prefix = path.deployment.prefix
    apply_changes(order.plan(path))
    assert order.plan(path) == []
    # Someone else's group of the same name, in another VPC: destroy leaves it.
    ec2 = boto3.client("ec2")
    other_vpc = ec2.create_vpc(CidrBlock="10.250.0.0/16")["Vpc"]["VpcId"]
    theirs = ec2.create_security_group(
        GroupName=f"{prefix}-endpoints", Description="not ours", VpcId=other_vpc
    )["GroupId"]

    apply_changes(order.plan_destroy(path))

    rds, iam = boto3.client("rds"), boto3.client("iam")
    assert [
        p for p in rds.describe_db_proxies()["DBProxies"] if p["DBProxyName"].startswith(prefix)
    ] == []
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=f"{prefix}-proxy")
    tagged = [
        {"Name": f"tag:{t['Key']}", "Values": [t["Value"]]} for t in tag_list(project_tags(prefix))
    ]
    live = [
        e
        for e in ec2.describe_vpc_endpoints(Filters=tagged)["VpcEndpoints"]
        if e["State"].lower() != "deleted"
    ]
    assert live == []
    assert ec2.describe_security_groups(Filters=tagged)["SecurityGroups"] == []
    assert [
        g["GroupId"] for g in ec2.describe_security_groups(GroupIds=[theirs])["SecurityGroups"]
    ] == [theirs]
    assert order.plan_destroy(path) == []
    ec2.delete_security_group(GroupId=theirs)


# -- the pure parts ----------------------------------------------------------------------


def test_one_subnet_per_zone_keeps_the_settings_order():
    subnets = [
        {"SubnetId": "subnet-b", "AvailabilityZone": "z2"},
        {"SubnetId": "subnet-a", "AvailabilityZone": "z1"},
        {"SubnetId": "subnet-a2", "AvailabilityZone": "z1"},
    ]
    assert one_subnet_per_zone(subnets, ["subnet-a2", "subnet-b", "subnet-a"]) == [
        "subnet-a2",
        "subnet-b",
    ]


def test_ingress_drift_names_what_to_add_and_everything_else_to_revoke():
    wanted = {"sg-f", "sg-c"}
    assert ingress_drift([https_rule(wanted)], wanted) == (set(), [])
    missing, revoke = ingress_drift(
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": "sg-f", "UserId": "1"}, {"GroupId": "sg-x"}],
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "open"}],
            },
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-c"}]},
        ],
        wanted,
    )
    assert missing == {"sg-c"}
    assert revoke == [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            "UserIdGroupPairs": [{"GroupId": "sg-x"}],
        },
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-c"}]},
    ]


def test_proxy_drift_compares_sets_not_order():
    wanted = proxy_settings("p", "arn:role", "arn:secret", ["s1", "s2"], ["g1"])
    current = {
        **wanted,
        "VpcSubnetIds": ["s2", "s1"],
        "Auth": [{"AuthScheme": "SECRETS", "SecretArn": "arn:secret", "IAMAuth": "DISABLED"}],
    }
    assert proxy_drift(current, wanted) == []
    assert proxy_drift({**current, "RequireTLS": False, "VpcSubnetIds": ["s3"]}, wanted) == [
        "RequireTLS",
        "VpcSubnetIds",
    ]
