"""Give an Aurora MySQL cluster access to Lambda: the chain ``lambda_async`` needs.

Links, in order (shared/reference/aurora-native-lambda.md, "Setup, in order"):

1. IAM policy ``<prefix>-aurora-invoke-lambda``: ``lambda:InvokeFunction`` on exactly the
   given functions and their qualified forms (``<arn>:*``), never ``*``;
2. IAM role ``<prefix>-aurora-lambda`` trusting ``rds.amazonaws.com`` only on behalf of the
   cluster's account and of the cluster and every cluster of its global database
   (``aws:SourceAccount``, ``aws:SourceArn``: no other account's RDS can act through it),
   the policy attached;
3. a custom DB cluster parameter group with ``aws_default_lambda_role`` = the role's ARN
   (a cluster on a ``default.*`` group is moved to a copy, ``<prefix>-<cluster>-params``);
4. the role associated with the cluster (no FeatureName: that is the Aurora PostgreSQL form).

Links 3 and 4 are made on every cluster of a global database. The database grant is
:mod:`infra.aws.db_grants`; checking the whole chain is :mod:`infra.aws.doctor`.

:func:`plan_aurora_access` and :func:`plan_destroy` only read; the returned
:class:`~infra.aws.changes.Change` objects do the work when run. A reboot is never part
of a plan unless asked for (``reboot=True``): it takes the writer down. A role or policy
of this prefix's name that lacks this deployment's tags is refused (the plan raises
:class:`~infra.aws.iam_roles.ForeignResourceError`) unless ``adopt_existing=True``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial

import boto3
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from infra.aws.changes import Change
from infra.aws.iam_documents import (
    is_project_resource,
    policy_drift,
    project_tags,
    service_trust_policy,
    source_conditions,
    tag_list,
)
from infra.aws.iam_roles import attached_policy_arns, plan_adoption, plan_service_role
from infra.catalog import DEFAULT_PREFIX

RDS_SERVICE = "rds.amazonaws.com"
INVOKE_ACTION = "lambda:InvokeFunction"
LAMBDA_ROLE_PARAMETER = "aws_default_lambda_role"
ACTIVATE_ROLES_PARAMETER = "activate_all_roles_on_login"
# On a parameter group this module made: the group the cluster used before, to go back to.
REPLACED_GROUP_TAG = "aurora-events:replaced-parameter-group"
MAX_POLICY_VERSIONS = 5  # IAM's limit per managed policy

_FUNCTION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12})"
    r":function:(?P<name>[A-Za-z0-9_-]{1,64})$"
)
_CLUSTER_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):rds:(?P<region>[^:]+):(?P<account>\d{12}):cluster:(?P<id>.+)$"
)


class AuroraAccessError(RuntimeError):
    """The chain cannot be planned or changed as asked; the message says why."""


class UnsupportedOperation(AuroraAccessError):
    """The AWS endpoint (a local emulator) does not implement an API this change needs."""


# -- configuration -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuroraAccessConfig:
    """What to give which cluster. ``engine_major`` None: read from the cluster."""

    cluster: str
    function_arns: tuple[str, ...]
    prefix: str = DEFAULT_PREFIX
    engine_major: int | None = None
    activate_all_roles_on_login: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "function_arns", tuple(self.function_arns))
        if not self.function_arns:
            raise AuroraAccessError("no function ARNs: Aurora would be allowed to invoke nothing")
        for arn in self.function_arns:
            if not _FUNCTION_ARN.match(arn):
                raise AuroraAccessError(
                    f"{arn!r} is not an unqualified Lambda function ARN "
                    "(arn:aws:lambda:<region>:<account>:function:<name>; its versions and "
                    "aliases are allowed through <arn>:*)"
                )
        if self.engine_major not in (None, 2, 3):
            raise AuroraAccessError(f"engine major version must be 2 or 3, got {self.engine_major}")
        if self.activate_all_roles_on_login and self.engine_major == 2:
            raise AuroraAccessError("activate_all_roles_on_login exists on Aurora MySQL v3 only")

    @property
    def policy_name(self) -> str:
        return f"{self.prefix}-aurora-invoke-lambda"

    @property
    def role_name(self) -> str:
        return f"{self.prefix}-aurora-lambda"

    def parameter_group_name(self, cluster_identifier: str) -> str:
        return f"{self.prefix}-{cluster_identifier}-params"

    def resource_tags(self) -> dict[str, str]:
        """The extra tags and the project's (which win: :func:`plan_destroy` looks for them)."""
        return {**self.tags, **project_tags(self.prefix)}


# -- documents ---------------------------------------------------------------------------


def invoke_policy_document(function_arns: Iterable[str]) -> dict:
    """``lambda:InvokeFunction`` on each function and its qualified forms, nothing else."""
    resources = sorted({form for arn in function_arns for form in (arn, f"{arn}:*")})
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AuroraInvokesTheseFunctions",
                "Effect": "Allow",
                "Action": INVOKE_ACTION,
                "Resource": resources,
            }
        ],
    }


def rds_source_conditions(cluster_arns: Iterable[str]) -> dict:
    """RDS may assume the role only for these clusters, and only in their account."""
    arns = sorted(set(cluster_arns))
    accounts = set()
    for arn in arns:
        match = _CLUSTER_ARN.match(arn)
        if not match:
            raise AuroraAccessError(f"not a DB cluster ARN: {arn!r}")
        accounts.add(match["account"])
    if len(accounts) != 1:
        raise AuroraAccessError(
            "the role serves clusters of one account; got "
            + (", ".join(arns) if arns else "no cluster")
        )
    return source_conditions(accounts.pop(), arns)


def rds_trust_policy(cluster_arns: Iterable[str]) -> dict:
    """The role's trust policy: RDS (Aurora) may assume it on behalf of exactly these
    clusters (the cluster and every cluster of its global database) of their account."""
    return service_trust_policy(RDS_SERVICE, rds_source_conditions(cluster_arns))


# -- what exists -------------------------------------------------------------------------


class Clients:
    """boto3 clients by service and region (they honour ``AWS_ENDPOINT_URL``)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str | None], object] = {}

    def get(self, service: str, region: str | None = None):
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = boto3.client(service, region_name=region)
        return self._clients[key]

    def rds(self, region: str | None = None):
        return self.get("rds", region)

    def iam(self):
        return self.get("iam")


@dataclass(frozen=True)
class Member:
    """One DB instance of a cluster."""

    instance: str
    writer: bool
    parameter_status: str  # DBClusterParameterGroupStatus: in-sync, pending-reboot, applying


@dataclass(frozen=True)
class ClusterState:
    """What the chain needs to know about one DB cluster."""

    identifier: str
    arn: str
    region: str
    engine: str
    engine_version: str
    parameter_group: str
    subnet_group: str | None
    security_groups: tuple[str, ...]
    members: tuple[Member, ...]
    roles: Mapping[str, str]  # associated role ARN -> Status (ACTIVE, PENDING, INVALID)

    @property
    def partition(self) -> str:
        return _CLUSTER_ARN.match(self.arn)["partition"]

    @property
    def account(self) -> str:
        return _CLUSTER_ARN.match(self.arn)["account"]

    def pending_reboot(self) -> list[str]:
        """Instances whose cluster parameters wait for a reboot."""
        return [m.instance for m in self.members if m.parameter_status == "pending-reboot"]


def cluster_state(description: Mapping, region: str) -> ClusterState:
    """A ``describe_db_clusters`` entry as :class:`ClusterState`."""
    return ClusterState(
        identifier=description["DBClusterIdentifier"],
        arn=description["DBClusterArn"],
        region=region,
        engine=description.get("Engine", ""),
        engine_version=description.get("EngineVersion", ""),
        parameter_group=description.get("DBClusterParameterGroup", ""),
        subnet_group=description.get("DBSubnetGroup"),
        security_groups=tuple(
            g["VpcSecurityGroupId"] for g in description.get("VpcSecurityGroups", [])
        ),
        members=tuple(
            Member(
                m["DBInstanceIdentifier"],
                bool(m.get("IsClusterWriter")),
                m.get("DBClusterParameterGroupStatus", ""),
            )
            for m in description.get("DBClusterMembers", [])
        ),
        roles={r["RoleArn"]: r.get("Status", "") for r in description.get("AssociatedRoles", [])},
    )


def region_of_cluster_arn(arn: str) -> str:
    match = _CLUSTER_ARN.match(arn)
    if not match:
        raise AuroraAccessError(f"not a DB cluster ARN: {arn!r}")
    return match["region"]


def default_region() -> str:
    region = boto3.session.Session().region_name
    if not region:
        raise AuroraAccessError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)")
    return region


def read_cluster(rds, identifier: str, region: str) -> ClusterState:
    """The cluster ``identifier`` (a name or an ARN) in ``region``."""
    try:
        found = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("DBClusterNotFoundFault", "DBClusterNotFound"):
            raise AuroraAccessError(f"no DB cluster {identifier!r} in {region}") from None
        raise
    return cluster_state(found[0], region)


def global_member_arns(global_clusters: Iterable[Mapping], cluster_arn: str) -> list[str]:
    """The ARNs of the clusters sharing a global database with ``cluster_arn`` (it included)."""
    for global_cluster in global_clusters:
        members = [m["DBClusterArn"] for m in global_cluster.get("GlobalClusterMembers", [])]
        if cluster_arn in members:
            return members
    return [cluster_arn]


def read_clusters(clients: Clients, identifier: str) -> list[ClusterState]:
    """The cluster, then every other cluster of its global database (each in its region)."""
    region = default_region()
    first = read_cluster(clients.rds(region), identifier, region)
    global_clusters = []
    for page in clients.rds(region).get_paginator("describe_global_clusters").paginate():
        global_clusters.extend(page.get("GlobalClusters", []))
    clusters = [first]
    for arn in global_member_arns(global_clusters, first.arn):
        if arn != first.arn:
            member_region = region_of_cluster_arn(arn)
            # A cluster is described in its own region; by ARN, since names may repeat.
            clusters.append(read_cluster(clients.rds(member_region), arn, member_region))
    return clusters


def engine_major_version(engine_version: str) -> int:
    """3 for ``8.0.mysql_aurora.3.05.2``, 2 for ``5.7.mysql_aurora.2.11.2``."""
    match = re.search(r"mysql_aurora\.(\d+)\.", engine_version)
    major = int(match[1]) if match else {"8.0": 3, "5.7": 2}.get(engine_version[:3])
    if major not in (2, 3):
        raise AuroraAccessError(
            f"engine version {engine_version!r} is not Aurora MySQL v2 or v3 "
            "(the native lambda_async needs one of them)"
        )
    return major


def checked_engine_major(config: AuroraAccessConfig, cluster: ClusterState) -> int:
    """The cluster's Aurora MySQL major version; an error when it contradicts ``config``."""
    if cluster.engine != "aurora-mysql":
        raise AuroraAccessError(
            f"DB cluster {cluster.identifier} runs {cluster.engine or 'an unknown engine'}; "
            "this chain is for Aurora MySQL (engine aurora-mysql)"
        )
    major = engine_major_version(cluster.engine_version)
    if config.engine_major is not None and config.engine_major != major:
        raise AuroraAccessError(
            f"DB cluster {cluster.identifier} is Aurora MySQL v{major} ({cluster.engine_version}), "
            f"not v{config.engine_major}"
        )
    if config.activate_all_roles_on_login and major != 3:
        raise AuroraAccessError("activate_all_roles_on_login exists on Aurora MySQL v3 only")
    return major


@dataclass(frozen=True)
class Parameter:
    value: str | None
    apply_type: str | None  # "dynamic" or "static"; None when the endpoint does not say


def read_parameters(rds, group: str, names: Iterable[str]) -> dict[str, Parameter]:
    """The parameters ``names`` of cluster parameter group ``group`` (missing: not listed)."""
    wanted = set(names)
    found: dict[str, Parameter] = {}
    try:
        pages = rds.get_paginator("describe_db_cluster_parameters").paginate(
            DBClusterParameterGroupName=group
        )
        for page in pages:
            for p in page.get("Parameters", []):
                if p["ParameterName"] in wanted:
                    found[p["ParameterName"]] = Parameter(
                        p.get("ParameterValue"), p.get("ApplyType")
                    )
    except ClientError as error:
        # moto has no default.* groups; AWS has them all. Nothing known is nothing set.
        if error.response["Error"]["Code"] not in ("DBParameterGroupNotFound",):
            raise
    return found


def parameter_group_exists(rds, group: str) -> dict | None:
    """The group's description, or None."""
    try:
        return rds.describe_db_cluster_parameter_groups(DBClusterParameterGroupName=group)[
            "DBClusterParameterGroups"
        ][0]
    except ClientError as error:
        if error.response["Error"]["Code"] == "DBParameterGroupNotFound":
            return None
        raise


def is_default_group(group: str) -> bool:
    """AWS's own groups (``default.aurora-mysql8.0``) cannot be modified."""
    return group.startswith("default.")


def family_for(major: int) -> str:
    return {3: "aurora-mysql8.0", 2: "aurora-mysql5.7"}[major]


def parameter_group_family(rds, group: str, major: int) -> str:
    """The family of ``group``; for a group the endpoint does not know, the engine's family.

    moto names a new cluster's group ``default.aurora8.0`` and cannot describe it.
    """
    described = parameter_group_exists(rds, group)
    return described["DBParameterGroupFamily"] if described else family_for(major)


def desired_parameters(config: AuroraAccessConfig, role_arn: str, major: int) -> dict[str, str]:
    """The cluster parameters the chain sets."""
    desired = {LAMBDA_ROLE_PARAMETER: role_arn}
    if config.activate_all_roles_on_login and major == 3:
        desired[ACTIVATE_ROLES_PARAMETER] = "1"
    return desired


def parameter_drift(
    current: Mapping[str, Parameter], desired: Mapping[str, str]
) -> dict[str, tuple[str | None, str]]:
    """``{name: (current value, desired value)}`` for each parameter that differs."""
    drift = {}
    for name, value in desired.items():
        now = current.get(name)
        if now is None or now.value != value:
            drift[name] = (now.value if now else None, value)
    return drift


def apply_method(apply_type: str | None) -> str:
    """Dynamic parameters apply at once; static ones (and unknown ones) at the next reboot."""
    return "immediate" if apply_type == "dynamic" else "pending-reboot"


# -- calls that a local endpoint may lack ------------------------------------------------


def call_unless_unsupported(operation: str, call: Callable[[], object]) -> object:
    """Run ``call``; when a local endpoint lacks ``operation``, raise :class:`UnsupportedOperation`.

    moto answers an API it does not implement with HTTP 500 and an HTML page (botocore:
    ResponseParserError), or NotImplementedError in-process. On AWS the error is raised as is.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    try:
        return call()
    except (NotImplementedError, ResponseParserError) as error:
        if isinstance(error, ResponseParserError) and not endpoint:
            raise  # from AWS itself this is a real parsing failure, not a missing API
        raise UnsupportedOperation(
            f"{operation} is not implemented by the AWS endpoint {endpoint or '(in-process)'}; "
            "on AWS this change is made"
        ) from error


@dataclass
class Outcome:
    """What :func:`apply_plan` did, and what the endpoint could not do."""

    done: list[Change] = field(default_factory=list)
    unsupported: list[tuple[Change, str]] = field(default_factory=list)


def apply_plan(changes: Iterable[Change]) -> Outcome:
    """Run ``changes`` in order; a change the endpoint does not support is noted, not fatal."""
    outcome = Outcome()
    for change in changes:
        try:
            change.run()
        except UnsupportedOperation as error:
            outcome.unsupported.append((change, str(error)))
            continue
        outcome.done.append(change)
    return outcome


# -- plan: IAM ---------------------------------------------------------------------------


def access_identities(
    iam, config: AuroraAccessConfig, cluster: ClusterState
) -> tuple[str, dict | None, str]:
    """The invoke policy's ARN, the role as it is (None if missing), and the role's ARN
    (as it will be, when missing)."""
    policy_arn = iam_arn(cluster.partition, cluster.account, "policy", config.policy_name)
    role = read_role(iam, config.role_name)
    role_arn = (
        role["Arn"]
        if role
        else iam_arn(cluster.partition, cluster.account, "role", config.role_name)
    )
    return policy_arn, role, role_arn


def iam_arn(partition: str, account: str, kind: str, name: str) -> str:
    return f"arn:{partition}:iam::{account}:{kind}/{name}"


def put_policy_version(iam, policy_arn: str, document: dict) -> None:
    """Make ``document`` the default version (at IAM's limit, drop the oldest other one first)."""
    versions = iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]
    if len(versions) >= MAX_POLICY_VERSIONS:
        oldest = min(
            (v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"]
        )
        iam.delete_policy_version(PolicyArn=policy_arn, VersionId=oldest["VersionId"])
    iam.create_policy_version(
        PolicyArn=policy_arn, PolicyDocument=json.dumps(document), SetAsDefault=True
    )


def default_policy_document(iam, policy_arn: str) -> dict | None:
    """The default version's document, or None when the policy does not exist."""
    try:
        policy = iam.get_policy(PolicyArn=policy_arn)["Policy"]
    except iam.exceptions.NoSuchEntityException:
        return None
    return iam.get_policy_version(PolicyArn=policy_arn, VersionId=policy["DefaultVersionId"])[
        "PolicyVersion"
    ]["Document"]


def plan_policy(
    iam, config: AuroraAccessConfig, policy_arn: str, adopt: bool = False
) -> list[Change]:
    """Create the invoke policy, or make its default version say exactly what it should.
    An existing policy without this deployment's tags is refused unless ``adopt``."""
    desired = invoke_policy_document(config.function_arns)
    resource = f"iam policy {config.policy_name}"
    current = default_policy_document(iam, policy_arn)
    if current is None:
        return [
            Change(
                resource,
                "create",
                f"{INVOKE_ACTION} on {', '.join(config.function_arns)} (and :*)",
                run=partial(
                    iam.create_policy,
                    PolicyName=config.policy_name,
                    PolicyDocument=json.dumps(desired),
                    Description="Aurora MySQL lambda_async/lambda_sync may invoke these functions",
                    Tags=tag_list(config.resource_tags()),
                ),
            )
        ]
    changes = plan_adoption(
        resource,
        iam.list_policy_tags(PolicyArn=policy_arn)["Tags"],
        config.resource_tags(),
        config.prefix,
        adopt,
        lambda tags: iam.tag_policy(PolicyArn=policy_arn, Tags=tags),
    )
    drift = policy_drift(current, desired)
    if drift:
        changes.append(
            Change(
                resource,
                "update",
                "new default version: " + "; ".join(drift),
                run=partial(put_policy_version, iam, policy_arn, desired),
            )
        )
    return changes


def read_role(iam, role_name: str) -> dict | None:
    try:
        return iam.get_role(RoleName=role_name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None


def plan_role(
    iam,
    config: AuroraAccessConfig,
    policy_arn: str,
    cluster_arns: Iterable[str],
    adopt: bool = False,
) -> list[Change]:
    """Create the role (trusting RDS for ``cluster_arns`` only) with the policy attached, or
    fix its trust/attachment. A role without this deployment's tags is refused unless
    ``adopt``."""
    role, changes = plan_service_role(
        iam,
        config.role_name,
        RDS_SERVICE,
        config.resource_tags(),
        "Aurora MySQL assumes this role to invoke Lambda functions",
        prefix=config.prefix,
        conditions=rds_source_conditions(cluster_arns),
        adopt=adopt,
    )
    if role is None or policy_arn not in attached_policy_arns(iam, config.role_name):
        changes.append(
            Change(
                f"iam role {config.role_name}",
                "attach",
                f"policy {config.policy_name}",
                run=partial(
                    iam.attach_role_policy, RoleName=config.role_name, PolicyArn=policy_arn
                ),
            )
        )
    return changes


# -- plan: clusters ----------------------------------------------------------------------


def create_parameter_group(rds, name: str, family: str, tags: Mapping[str, str]) -> None:
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=name,
        DBParameterGroupFamily=family,
        Description="aurora-events: Aurora MySQL may invoke Lambda (aws_default_lambda_role)",
        Tags=tag_list(tags),
    )


def set_parameter(rds, group: str, name: str, value: str, method: str) -> None:
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName=group,
        Parameters=[{"ParameterName": name, "ParameterValue": value, "ApplyMethod": method}],
    )


def use_parameter_group(rds, cluster: str, group: str) -> None:
    rds.modify_db_cluster(
        DBClusterIdentifier=cluster, DBClusterParameterGroupName=group, ApplyImmediately=True
    )


def plan_parameters(
    clients: Clients, config: AuroraAccessConfig, cluster: ClusterState, desired: dict[str, str]
) -> tuple[list[Change], bool]:
    """Set the parameters on the cluster's custom group (made first if it has none).

    Returns the changes and whether they take effect only at a reboot.
    """
    rds = clients.rds(cluster.region)
    where = f"({cluster.region})"
    changes: list[Change] = []
    needs_reboot = False
    if is_default_group(cluster.parameter_group):
        group = config.parameter_group_name(cluster.identifier)
        if parameter_group_exists(rds, group) is None:
            # A copy of a default group is a new group of its family: default groups
            # hold no modified parameters.
            family = parameter_group_family(
                rds, cluster.parameter_group, engine_major_version(cluster.engine_version)
            )
            tags = {**config.resource_tags(), REPLACED_GROUP_TAG: cluster.parameter_group}
            changes.append(
                Change(
                    f"db cluster parameter group {group} {where}",
                    "create",
                    f"family {family}, for db cluster {cluster.identifier} "
                    f"(instead of {cluster.parameter_group})",
                    run=partial(create_parameter_group, rds, group, family, tags),
                )
            )
            current = {}
        else:
            current = read_parameters(rds, group, desired)
        # The new group's parameters have the default group's apply types.
        apply_types = read_parameters(rds, cluster.parameter_group, desired)
        move = Change(
            f"db cluster {cluster.identifier} {where}",
            "update",
            f"parameter group {cluster.parameter_group} -> {group} (applies at the next reboot)",
            run=partial(use_parameter_group, rds, cluster.identifier, group),
        )
        needs_reboot = True
    else:
        group = cluster.parameter_group
        current = apply_types = read_parameters(rds, group, desired)
        move = None
    for name, (old, new) in parameter_drift(current, desired).items():
        known = apply_types.get(name)
        method = apply_method(known.apply_type if known else None)
        needs_reboot = needs_reboot or method == "pending-reboot"
        changes.append(
            Change(
                f"parameter {name} of db cluster parameter group {group} {where}",
                "set",
                f"{old if old is not None else '(unset)'} -> {new}"
                + (" (applies at the next reboot)" if method == "pending-reboot" else ""),
                run=partial(set_parameter, rds, group, name, new, method),
            )
        )
    if move is not None:
        changes.append(move)
    return changes, needs_reboot


def reassociate_role(rds, cluster: str, role_arn: str) -> None:
    call_unless_unsupported(
        "RemoveRoleFromDBCluster",
        partial(rds.remove_role_from_db_cluster, DBClusterIdentifier=cluster, RoleArn=role_arn),
    )
    rds.add_role_to_db_cluster(DBClusterIdentifier=cluster, RoleArn=role_arn)


def plan_association(rds, cluster: ClusterState, role_arn: str, role_name: str) -> list[Change]:
    """Associate the role with the cluster; an INVALID association is made again."""
    resource = f"db cluster {cluster.identifier} ({cluster.region})"
    status = cluster.roles.get(role_arn)
    if status is None:
        return [
            Change(
                resource,
                "associate",
                f"iam role {role_name}",
                # No FeatureName: Aurora MySQL takes none ("Lambda" is Aurora PostgreSQL's).
                run=partial(
                    rds.add_role_to_db_cluster,
                    DBClusterIdentifier=cluster.identifier,
                    RoleArn=role_arn,
                ),
            )
        ]
    if status == "INVALID":  # the role was deleted or stopped trusting RDS meanwhile
        return [
            Change(
                resource,
                "associate",
                f"iam role {role_name} again (its association is INVALID)",
                run=partial(reassociate_role, rds, cluster.identifier, role_arn),
            )
        ]
    return []  # ACTIVE, or PENDING on its way to ACTIVE


def plan_reboot(rds, cluster: ClusterState) -> list[Change]:
    """Reboot each instance of the cluster (Aurora reboots instances, not clusters)."""
    return [
        Change(
            f"db instance {member.instance} ({cluster.region})",
            "reboot",
            f"so that db cluster {cluster.identifier}'s parameters apply"
            + (" (writer)" if member.writer else ""),
            run=partial(rds.reboot_db_instance, DBInstanceIdentifier=member.instance),
        )
        for member in cluster.members
    ]


def plan_aurora_access(
    config: AuroraAccessConfig,
    *,
    reboot: bool = False,
    adopt_existing: bool = False,
    clients: Clients | None = None,
) -> list[Change]:
    """Everything that must change for the cluster(s) to invoke the functions; changes nothing.

    ``adopt_existing``: take over (tag) a role or policy of these names that exists without
    this deployment's tags; without it such a one is refused (ForeignResourceError).
    """
    clients = clients or Clients()
    clusters = read_clusters(clients, config.cluster)
    major = checked_engine_major(config, clusters[0])
    iam = clients.iam()
    policy_arn, role, role_arn = access_identities(iam, config, clusters[0])
    changes = plan_policy(iam, config, policy_arn, adopt_existing) + plan_role(
        iam, config, policy_arn, [c.arn for c in clusters], adopt_existing
    )
    desired = desired_parameters(config, role_arn, major)
    for cluster in clusters:
        rds = clients.rds(cluster.region)
        parameter_changes, needs_reboot = plan_parameters(clients, config, cluster, desired)
        changes += parameter_changes
        changes += plan_association(rds, cluster, role_arn, config.role_name)
        if reboot and (needs_reboot or cluster.pending_reboot()):
            changes += plan_reboot(rds, cluster)
    return changes


@dataclass(frozen=True)
class RebootStatus:
    cluster: str
    region: str
    pending_instances: tuple[str, ...]


def reboot_status(config: AuroraAccessConfig, clients: Clients | None = None) -> list[RebootStatus]:
    """Per cluster, the instances whose cluster parameters wait for a reboot."""
    clients = clients or Clients()
    return [
        RebootStatus(c.identifier, c.region, tuple(c.pending_reboot()))
        for c in read_clusters(clients, config.cluster)
    ]


# -- destroy -----------------------------------------------------------------------------


def resource_tags(rds, arn: str) -> list[dict]:
    return rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])


def remove_role(rds, cluster: str, role_arn: str) -> None:
    # moto 5.2 does not implement RemoveRoleFromDBCluster (HTTP 500): reported, not faked.
    call_unless_unsupported(
        "RemoveRoleFromDBCluster",
        partial(rds.remove_role_from_db_cluster, DBClusterIdentifier=cluster, RoleArn=role_arn),
    )


def reset_parameter(rds, group: str, name: str) -> None:
    # moto 5.2 does not implement ResetDBClusterParameterGroup: reported, not faked.
    call_unless_unsupported(
        "ResetDBClusterParameterGroup",
        partial(
            rds.reset_db_cluster_parameter_group,
            DBClusterParameterGroupName=group,
            Parameters=[{"ParameterName": name, "ApplyMethod": "pending-reboot"}],
        ),
    )


def wait_for_parameter_group(rds, cluster: str, group: str, timeout: float = 900) -> None:
    """Wait until ``cluster`` uses ``group`` and is available (before deleting the old group)."""
    deadline = time.monotonic() + timeout
    while True:
        state = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
        if state["DBClusterParameterGroup"] == group and state.get("Status") == "available":
            return
        if time.monotonic() > deadline:
            raise AuroraAccessError(f"db cluster {cluster} did not switch to {group} in {timeout}s")
        time.sleep(5)


def return_to_group(rds, cluster: str, group: str) -> None:
    use_parameter_group(rds, cluster, group)
    wait_for_parameter_group(rds, cluster, group)


def delete_policy(iam, policy_arn: str) -> None:
    """Delete a managed policy: its non-default versions first, as IAM requires."""
    for version in iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=policy_arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=policy_arn)


def plan_destroy_cluster(
    clients: Clients, config: AuroraAccessConfig, cluster: ClusterState, role_arn: str
) -> list[Change]:
    """Undo links 3 and 4 on one cluster; delete the parameter group only if it is ours."""
    rds = clients.rds(cluster.region)
    where = f"({cluster.region})"
    changes = []
    if role_arn in cluster.roles:
        changes.append(
            Change(
                f"db cluster {cluster.identifier} {where}",
                "disassociate",
                f"iam role {config.role_name}",
                run=partial(remove_role, rds, cluster.identifier, role_arn),
            )
        )
    ours = config.parameter_group_name(cluster.identifier)
    described = parameter_group_exists(rds, ours)
    tags = resource_tags(rds, described["DBClusterParameterGroupArn"]) if described else []
    if described and not is_project_resource(tags, config.prefix):
        changes.append(
            Change(
                f"db cluster parameter group {ours} {where}",
                "keep",
                "not tagged as this project's",
            )
        )
        described = None
    if described and cluster.parameter_group == ours:
        previous = {t["Key"]: t["Value"] for t in tags}.get(REPLACED_GROUP_TAG) or (
            "default." + described["DBParameterGroupFamily"]
        )
        changes.append(
            Change(
                f"db cluster {cluster.identifier} {where}",
                "update",
                f"parameter group {ours} -> {previous} (applies at the next reboot)",
                run=partial(return_to_group, rds, cluster.identifier, previous),
            )
        )
    elif not is_default_group(cluster.parameter_group) and cluster.parameter_group != ours:
        current = read_parameters(rds, cluster.parameter_group, [LAMBDA_ROLE_PARAMETER])
        if current.get(LAMBDA_ROLE_PARAMETER, Parameter(None, None)).value == role_arn:
            changes.append(
                Change(
                    f"parameter {LAMBDA_ROLE_PARAMETER} of db cluster parameter group "
                    f"{cluster.parameter_group} {where}",
                    "reset",
                    "the group is not this project's: only the parameter it set",
                    run=partial(
                        reset_parameter, rds, cluster.parameter_group, LAMBDA_ROLE_PARAMETER
                    ),
                )
            )
    if described:
        changes.append(
            Change(
                f"db cluster parameter group {ours} {where}",
                "delete",
                run=partial(
                    rds.delete_db_cluster_parameter_group, DBClusterParameterGroupName=ours
                ),
            )
        )
    return changes


def plan_destroy(config: AuroraAccessConfig, clients: Clients | None = None) -> list[Change]:
    """Remove what :func:`plan_aurora_access` made; resources not tagged as ours are kept."""
    clients = clients or Clients()
    clusters = read_clusters(clients, config.cluster)
    iam = clients.iam()
    policy_arn, role, role_arn = access_identities(iam, config, clusters[0])
    changes = []
    for cluster in clusters:
        changes += plan_destroy_cluster(clients, config, cluster, role_arn)
    role_resource = f"iam role {config.role_name}"
    if role is not None:
        if policy_arn in attached_policy_arns(iam, config.role_name):
            changes.append(
                Change(
                    role_resource,
                    "detach",
                    f"policy {config.policy_name}",
                    run=partial(
                        iam.detach_role_policy, RoleName=config.role_name, PolicyArn=policy_arn
                    ),
                )
            )
        if is_project_resource(role.get("Tags", []), config.prefix):
            changes.append(
                Change(
                    role_resource,
                    "delete",
                    run=partial(iam.delete_role, RoleName=config.role_name),
                )
            )
        else:
            changes.append(Change(role_resource, "keep", "not tagged as this project's"))
    if default_policy_document(iam, policy_arn) is not None:
        policy_resource = f"iam policy {config.policy_name}"
        if is_project_resource(iam.list_policy_tags(PolicyArn=policy_arn)["Tags"], config.prefix):
            changes.append(
                Change(policy_resource, "delete", run=partial(delete_policy, iam, policy_arn))
            )
        else:
            changes.append(Change(policy_resource, "keep", "not tagged as this project's"))
    return changes
