"""Which link of Aurora's Lambda access is broken, and the command that fixes it.

Aurora answers most breaks with the same ``ERROR 1227 ... Invoke Lambda privilege(s)`` or
``Missing Credentials``, so the doctor walks the chain in order and stops at the first
broken link:

1. ``role``: the IAM role exists and trusts ``rds.amazonaws.com`` exactly as ``aurora apply``
   writes it: only for the cluster's account and its clusters (``aws:SourceAccount``,
   ``aws:SourceArn``), so no other account's RDS can act through it;
2. ``policy``: its policies allow ``lambda:InvokeFunction`` on each function (and ``:*``);
3. ``parameter``: ``aws_default_lambda_role`` is the role's ARN on each cluster's
   parameter group, and applied (no instance waits for a reboot);
4. ``association``: the role is associated with each cluster, status ACTIVE;
5. ``grant``: the trigger definer holds AWS_LAMBDA_ACCESS as a default role (v3, and the
   emulation) or INVOKE LAMBDA (v2);
6. ``functions``: the functions exist;
7. ``relay`` (when a relay is named): the outbox relay's function exists, Aurora's policy
   lets it be invoked (the outbox trigger's doorbell), and, when its database account is
   named and the outbox exists, that account may work the outbox (SELECT, UPDATE, DELETE);
8. ``network``: each subnet of the DB subnet group routes to Lambda (NAT or internet
   gateway), or the VPC has a Lambda interface endpoint. Skipped when the caller says so
   (``check_network=False``: a local endpoint has no network to check).

Optionally a live probe: ``SELECT lambda_sync(<function>, '{"ping": 1}')``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import pymysql

from infra.aws.aurora_config import (
    INVOKE_ACTION,
    LAMBDA_ROLE_PARAMETER,
    RDS_SERVICE,
    AuroraAccessConfig,
)
from infra.aws.aurora_plan import apply_method
from infra.aws.aurora_policies import rds_source_conditions, rds_trust_policy
from infra.aws.aurora_state import (
    Clients,
    ClusterState,
    Parameter,
    access_identities,
    checked_engine_major,
    is_default_group,
    read_clusters,
    read_parameters,
)
from infra.aws.iam_roles import attached_policy_arns, inline_policy_names
from infra.aws.policy_documents import (
    describe_conditions,
    policy_allows,
    trust_conditions,
    trust_matches,
    trusts_service,
)
from infra.database import grants as db_grants

LINKS = ("role", "policy", "parameter", "association", "grant", "functions", "relay", "network")
PROBE_PAYLOAD = '{"ping": 1}'


@dataclass(frozen=True)
class Finding:
    """A broken link: what is wrong, and the command that fixes it."""

    link: str
    problem: str
    fix: str  # one command (or SQL statement) a line
    fix_kind: str  # "aurora-events", "aws", "sql" or "manual"


@dataclass(frozen=True)
class LinkResult:
    link: str
    detail: str  # what was found
    finding: Finding | None = None

    @property
    def ok(self) -> bool:
        return self.finding is None


@dataclass(frozen=True)
class ProbeResult:
    function: str
    result: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RelayCheck:
    """What the relay link checks: the relay's function, and optionally its database
    account (``USER@HOST``) on the outbox of ``database``."""

    function_arn: str
    account: str | None = None
    database: str | None = None


@dataclass
class Diagnosis:
    links: list[LinkResult] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)  # after the broken link
    network_checked: bool = True
    relay_checked: bool = False
    probe: ProbeResult | None = None

    @property
    def finding(self) -> Finding | None:
        return next((r.finding for r in self.links if r.finding), None)

    @property
    def ok(self) -> bool:
        return self.finding is None and (self.probe is None or self.probe.ok)


def _broken(link: str, problem: str, fix: str, fix_kind: str) -> LinkResult:
    return LinkResult(link, problem, Finding(link, problem, fix, fix_kind))


# -- the commands a finding suggests -----------------------------------------------------


def apply_command(config: AuroraAccessConfig) -> str:
    """``aurora-events aurora apply`` with this configuration."""
    words = [
        "aurora-events",
        "aurora",
        "apply",
        "--cluster",
        config.cluster,
        "--prefix",
        config.prefix,
    ]
    for arn in config.function_arns:
        words += ["--function-arn", arn]
    if config.activate_all_roles_on_login:
        words.append("--activate-all-roles-on-login")
    return shlex.join(words)


def aws_command(service: str, operation: str, *options: str) -> str:
    return shlex.join(["aws", service, operation, *options])


def compact_json(document) -> str:
    return json.dumps(document, separators=(",", ":"))


# -- pure checks -------------------------------------------------------------------------


def uncovered_resources(documents: list, function_arns: Iterable[str]) -> list[str]:
    """The function ARNs (and ``<arn>:*`` forms) the documents do not let RDS invoke."""
    return [
        form
        for arn in function_arns
        for form in (arn, f"{arn}:*")
        if not policy_allows(documents, INVOKE_ACTION, form)
    ]


@dataclass(frozen=True)
class RouteTable:
    identifier: str
    routes: tuple[Mapping, ...]


def route_to_internet(table: RouteTable) -> str | None:
    """How the table reaches the internet (``nat-…``, ``igw-…``), or None."""
    for route in table.routes:
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State") == "blackhole":
            continue
        for key in ("NatGatewayId", "GatewayId", "TransitGatewayId", "NetworkInterfaceId"):
            target = route.get(key)
            if target and target != "local":
                return target
    return None


def subnet_route_tables(tables: Iterable[Mapping], subnets: Iterable[str]) -> dict[str, RouteTable]:
    """Each subnet's route table: its explicit association, else the VPC's main table."""
    tables = list(tables)
    main = None
    explicit: dict[str, RouteTable] = {}
    for table in tables:
        parsed = RouteTable(table["RouteTableId"], tuple(table.get("Routes", [])))
        for association in table.get("Associations", []):
            if association.get("Main"):
                main = parsed
            elif association.get("SubnetId"):
                explicit[association["SubnetId"]] = parsed
    return {s: explicit[s] for s in subnets if s in explicit} | {
        s: main for s in subnets if s not in explicit and main is not None
    }


# -- the links ---------------------------------------------------------------------------


def check_role(
    config: AuroraAccessConfig, clusters: Iterable[ClusterState], role: dict | None
) -> LinkResult:
    """The role (as read, None when missing) exists and its trust policy is exactly the one
    ``aurora apply`` writes for ``clusters``: RDS, on behalf of their account and of them
    only."""
    if role is None:
        return _broken(
            "role",
            f"iam role {config.role_name} does not exist",
            apply_command(config),
            "aurora-events",
        )
    cluster_arns = [cluster.arn for cluster in clusters]
    desired = rds_trust_policy(cluster_arns)
    limits = describe_conditions(rds_source_conditions(cluster_arns))
    current = role["AssumeRolePolicyDocument"]
    if trust_matches(current, desired):
        return LinkResult(
            "role", f"iam role {config.role_name} trusts {RDS_SERVICE} only when {limits}"
        )
    fix = aws_command(
        "iam",
        "update-assume-role-policy",
        "--role-name",
        config.role_name,
        "--policy-document",
        compact_json(desired),
    )
    if not trusts_service(current, RDS_SERVICE):
        why = f"does not trust {RDS_SERVICE}: Aurora cannot assume it"
    elif {} in trust_conditions(current, RDS_SERVICE):
        why = (
            f"trusts {RDS_SERVICE} without conditions: RDS acting for any account or "
            f"resource could assume it (confused deputy); it should trust it only when {limits}"
        )
    else:
        why = (
            f"does not trust {RDS_SERVICE} exactly when {limits}: conditions naming other "
            "clusters or accounts keep Aurora out, anything more lets others in"
        )
    return _broken(
        "role",
        f"iam role {config.role_name} {why} (trust policy: {compact_json(current)})",
        fix,
        "aws",
    )


def role_policy_documents(iam, role_name: str) -> list:
    """The default versions of the role's managed policies, and its inline policies."""
    documents = []
    for arn in attached_policy_arns(iam, role_name):
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        documents.append(
            iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        )
    for name in inline_policy_names(iam, role_name):
        documents.append(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
    return documents


def check_policy(iam, config: AuroraAccessConfig) -> LinkResult:
    missing = uncovered_resources(
        role_policy_documents(iam, config.role_name), config.function_arns
    )
    if missing:
        return _broken(
            "policy",
            f"the policies of iam role {config.role_name} do not allow {INVOKE_ACTION} on: "
            + ", ".join(missing),
            apply_command(config),
            "aurora-events",
        )
    return LinkResult(
        "policy", f"{INVOKE_ACTION} allowed on {len(config.function_arns)} function(s) and :*"
    )


def check_parameter(
    clients: Clients, config: AuroraAccessConfig, cluster: ClusterState, role_arn: str
) -> LinkResult:
    group = cluster.parameter_group
    if is_default_group(group):
        return _broken(
            "parameter",
            f"db cluster {cluster.identifier} uses the default parameter group {group}, "
            f"where {LAMBDA_ROLE_PARAMETER} cannot be set",
            apply_command(config),
            "aurora-events",
        )
    rds = clients.rds(cluster.region)
    current = read_parameters(rds, group, [LAMBDA_ROLE_PARAMETER]).get(
        LAMBDA_ROLE_PARAMETER, Parameter(None, None)
    )
    if current.value != role_arn:
        setting = {
            "ParameterName": LAMBDA_ROLE_PARAMETER,
            "ParameterValue": role_arn,
            "ApplyMethod": apply_method(current.apply_type),
        }
        fix = aws_command(
            "rds",
            "modify-db-cluster-parameter-group",
            "--region",
            cluster.region,
            "--db-cluster-parameter-group-name",
            group,
            "--parameters",
            compact_json([setting]),
        )
        return _broken(
            "parameter",
            f"{LAMBDA_ROLE_PARAMETER} is {current.value or 'unset'} in db cluster parameter group "
            f"{group} of db cluster {cluster.identifier} (should be {role_arn}): Aurora reports "
            "'Missing Credentials'",
            fix,
            "aws",
        )
    pending = cluster.pending_reboot()
    if pending:
        fix = "\n".join(
            aws_command(
                "rds",
                "reboot-db-instance",
                "--region",
                cluster.region,
                "--db-instance-identifier",
                instance,
            )
            for instance in pending
        )
        return _broken(
            "parameter",
            f"{LAMBDA_ROLE_PARAMETER} is set in {group} but not applied: "
            f"{', '.join(pending)} wait(s) for a reboot",
            fix,
            "aws",
        )
    return LinkResult(
        "parameter", f"{LAMBDA_ROLE_PARAMETER} set and applied on db cluster {cluster.identifier}"
    )


def check_association(cluster: ClusterState, role_arn: str) -> LinkResult:
    where = ["--region", cluster.region, "--db-cluster-identifier", cluster.identifier]
    add = aws_command("rds", "add-role-to-db-cluster", *where, "--role-arn", role_arn)
    status = cluster.roles.get(role_arn)
    if status is None:
        return _broken(
            "association",
            f"iam role {role_arn} is not associated with db cluster {cluster.identifier}",
            add,
            "aws",
        )
    if status == "INVALID":
        remove = aws_command("rds", "remove-role-from-db-cluster", *where, "--role-arn", role_arn)
        return _broken(
            "association",
            f"the association of {role_arn} with db cluster {cluster.identifier} is INVALID "
            "(Aurora could not assume the role)",
            f"{remove}\n{add}",
            "aws",
        )
    if status != "ACTIVE":
        return _broken(
            "association",
            f"the association of {role_arn} with db cluster {cluster.identifier} is {status}, "
            "not ACTIVE yet: wait, then check again",
            aws_command(
                "rds", "describe-db-clusters", *where, "--query", "DBClusters[0].AssociatedRoles"
            ),
            "aws",
        )
    return LinkResult("association", f"associated with db cluster {cluster.identifier}, ACTIVE")


def check_grant(connection, definer: str) -> LinkResult:
    user, host = db_grants.parse_account(definer)
    account = db_grants.account_literal(user, host)
    server = db_grants.detect_server(connection)
    try:
        db_grants.find_account(connection, server, user, host)
    except db_grants.AccountNotFound as error:
        return _broken(
            "grant",
            f"{error} (a trigger's DEFINER is the account that ran the migration)",
            "run the doctor with --definer set to the account that defines the triggers",
            "manual",
        )
    access = db_grants.lambda_access(connection, server, user, host)
    what = "AWS_LAMBDA_ACCESS" if server.aurora_major == 3 else "INVOKE LAMBDA"
    if not access.granted:
        statements = db_grants.grant_statements(server, user, host)
        return _broken(
            "grant",
            f"{account} does not hold {what} ({server.describe()}): "
            "its triggers fail with ERROR 1227",
            "\n".join(f"{s};" for s in statements),
            "sql",
        )
    if not access.active:
        statements = db_grants.default_role_statements(server, user, host)
        also = "" if server.emulated else " (or set activate_all_roles_on_login = 1)"
        return _broken(
            "grant",
            f"{account} holds {what} but not as a default role{also}: the role is inactive "
            "in the triggers it defines, which fail with ERROR 1227",
            "\n".join(f"{s};" for s in statements),
            "sql",
        )
    return LinkResult("grant", f"{account} holds {what}, active ({server.describe()})")


def check_functions(clients: Clients, function_arns: Iterable[str]) -> LinkResult:
    missing = []
    arns = list(function_arns)
    for arn in arns:
        lambda_client = clients.get("lambda", arn.split(":")[3])
        try:
            lambda_client.get_function(FunctionName=arn)
        except lambda_client.exceptions.ResourceNotFoundException:
            missing.append(arn)
    if missing:
        return _broken(
            "functions",
            "no such function: " + ", ".join(missing),
            "deploy the function(s) (the catalog's: python -c 'from infra.aws.event_path import "
            "apply_event_path; from infra.catalog import Deployment; "
            "apply_event_path(Deployment.from_env())'), or name deployed ones with --function-arn",
            "manual",
        )
    return LinkResult("functions", f"{len(arns)} function(s) exist")


def check_relay(
    clients: Clients, iam, config: AuroraAccessConfig, connection, relay: RelayCheck
) -> LinkResult:
    """The outbox relay's link: its function, the doorbell (Aurora may invoke it), and its
    account's rights on the outbox once the outbox exists."""
    arn = relay.function_arn
    name = arn.rsplit(":", 1)[1]
    lambda_client = clients.get("lambda", arn.split(":")[3])
    try:
        lambda_client.get_function(FunctionName=arn)
    except lambda_client.exceptions.ResourceNotFoundException:
        return _broken(
            "relay",
            f"the outbox relay's function {arn} does not exist: outbox events wait in the "
            "table (the doorbell is swallowed, and no schedule runs)",
            shlex.join(["aurora-events", "deploy", "apply", "--prefix", name.rsplit("-", 1)[0]]),
            "aurora-events",
        )
    missing = uncovered_resources(role_policy_documents(iam, config.role_name), [arn])
    if missing:
        with_relay = replace(config, function_arns=(*config.function_arns, arn))
        return _broken(
            "relay",
            f"the policies of iam role {config.role_name} do not allow {INVOKE_ACTION} on "
            f"{', '.join(missing)}: the outbox trigger's doorbell fails (swallowed), so events "
            "wait for the relay's schedule (up to a minute)",
            apply_command(with_relay),
            "aurora-events",
        )
    detail = f"function {name} exists; Aurora may invoke it (the doorbell)"
    if not (relay.account and relay.database):
        return LinkResult("relay", detail)
    if not db_grants.outbox_exists(connection, relay.database):
        return LinkResult("relay", f"{detail}; no outbox in {relay.database} yet")
    user, host = db_grants.parse_account(relay.account)
    account = db_grants.account_literal(user, host)
    try:
        db_grants.find_account(connection, db_grants.detect_server(connection), user, host)
    except db_grants.AccountNotFound as error:
        return _broken(
            "relay",
            f"{error} (the relay's account: the user in its secret, relay_database_secret_id)",
            "create the relay's account, or run the doctor with --relay-account set to it",
            "manual",
        )
    lacking = db_grants.missing_relay_privileges(connection, user, host, relay.database)
    if lacking:
        statements = db_grants.relay_grant_statements(relay.database, user, host)
        return _broken(
            "relay",
            f"{account} lacks {', '.join(lacking)} on {relay.database}.{db_grants.OUTBOX_TABLE}: "
            "the relay cannot claim or mark events, so they wait",
            "\n".join(f"{s};" for s in statements),
            "sql",
        )
    return LinkResult("relay", f"{detail}; {account} may work the outbox of {relay.database}")


def check_route_to_lambda(clients: Clients, cluster: ClusterState) -> LinkResult:
    rds, ec2 = clients.rds(cluster.region), clients.get("ec2", cluster.region)
    group = rds.describe_db_subnet_groups(DBSubnetGroupName=cluster.subnet_group)["DBSubnetGroups"][
        0
    ]
    vpc = group["VpcId"]
    subnets = [s["SubnetIdentifier"] for s in group["Subnets"]]
    service = f"com.amazonaws.{cluster.region}.lambda"
    endpoints = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "service-name", "Values": [service]}]
    )["VpcEndpoints"]
    if any(e.get("State", "").lower() == "available" for e in endpoints):
        return LinkResult("network", f"VPC {vpc} has a Lambda interface endpoint")
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    routes = subnet_route_tables(tables, subnets)
    stranded = [s for s in subnets if s not in routes or route_to_internet(routes[s]) is None]
    if stranded:
        fix = aws_command(
            "ec2",
            "create-vpc-endpoint",
            "--region",
            cluster.region,
            "--vpc-id",
            vpc,
            "--vpc-endpoint-type",
            "Interface",
            "--service-name",
            service,
            "--subnet-ids",
            *subnets,
            "--security-group-ids",
            *cluster.security_groups,
            "--private-dns-enabled",
        )
        return _broken(
            "network",
            f"subnet(s) {', '.join(stranded)} of db subnet group {cluster.subnet_group} have no "
            "route to Lambda (no NAT/internet gateway route, no Lambda endpoint in "
            f"{vpc}): Aurora reports 'Unable to connect to endpoint' (the security groups "
            "must allow HTTPS from the cluster to the endpoint)",
            fix,
            "aws",
        )
    via = sorted({route_to_internet(routes[s]) for s in subnets})
    return LinkResult("network", f"every subnet routes to the internet via {', '.join(via)}")


def probe(connection, function: str) -> ProbeResult:
    """``SELECT lambda_sync(function, '{"ping": 1}')`` on ``connection``: its answer or error."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT lambda_sync(%s, %s)", (function, PROBE_PAYLOAD))
            value = cursor.fetchone()[0]
    except pymysql.err.MySQLError as error:
        return ProbeResult(function, error=" ".join(str(a) for a in error.args))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return ProbeResult(function, result=value)


# -- the walk ----------------------------------------------------------------------------


def diagnose(
    config: AuroraAccessConfig,
    definer: str,
    connection,
    *,
    check_network: bool,
    probe_function: str | None = None,
    probe_connection=None,
    clients: Clients | None = None,
    relay: RelayCheck | None = None,
) -> Diagnosis:
    """Check the links in order; stop at the first broken one.

    ``connection`` is an admin connection. ``check_network``: check the route from the
    cluster's subnets to Lambda (False against a local endpoint, which has no network).
    The probe runs on ``probe_connection`` (default: ``connection``) as that connection's
    user. ``relay``: also check the outbox relay's link.
    """
    clients = clients or Clients()
    diagnosis = Diagnosis()
    iam = clients.iam()
    clusters = read_clusters(clients, config.cluster)
    checked_engine_major(config, clusters[0])

    def checks():
        _, role, role_arn = access_identities(iam, config, clusters[0])
        yield check_role(config, clusters, role)
        yield check_policy(iam, config)
        for cluster in clusters:
            yield check_parameter(clients, config, cluster, role_arn)
        for cluster in clusters:
            yield check_association(cluster, role_arn)
        yield check_grant(connection, definer)
        yield check_functions(clients, config.function_arns)
        if relay is not None:
            yield check_relay(clients, iam, config, connection, relay)
        if check_network:
            for cluster in clusters:
                yield check_route_to_lambda(clients, cluster)

    for result in checks():
        diagnosis.links.append(result)
        if not result.ok:
            break
    diagnosis.network_checked = check_network
    diagnosis.relay_checked = relay is not None
    if diagnosis.finding:
        seen = {r.link for r in diagnosis.links}
        skipped = {"network"} if not check_network else set()
        skipped |= {"relay"} if relay is None else set()
        wanted = [link for link in LINKS if link not in skipped]
        diagnosis.not_checked = [link for link in wanted if link not in seen]
    if probe_function:
        diagnosis.probe = probe(probe_connection or connection, probe_function)
    return diagnosis


def render_diagnosis(diagnosis: Diagnosis) -> str:
    """The diagnosis as text: one line a link, then the fix of the first broken one."""
    lines = []
    for result in diagnosis.links:
        lines.append(f"{'ok' if result.ok else 'BROKEN':7} {result.link:12} {result.detail}")
    if diagnosis.not_checked:
        lines.append(f"not checked (after the broken link): {', '.join(diagnosis.not_checked)}")
    if not diagnosis.network_checked:
        lines.append("network not checked: AWS_ENDPOINT_URL points at a local endpoint")
    finding = diagnosis.finding
    if finding:
        lines.append("")
        lines.append(f"fix ({finding.fix_kind}):")
        lines.extend(f"  {line}" for line in finding.fix.splitlines())
    if diagnosis.probe:
        call = f"lambda_sync({diagnosis.probe.function!r}, {PROBE_PAYLOAD!r})"
        outcome = (
            f"-> {diagnosis.probe.result}"
            if diagnosis.probe.ok
            else f"failed: {diagnosis.probe.error}"
        )
        lines.append(f"probe: SELECT {call} {outcome}")
    if diagnosis.ok:
        lines.append("every link checked is in place")
    return "\n".join(lines)
