"""Reading what exists of Aurora's access chain: the cluster(s) (a global database's
members too), their parameters and parameter groups, the IAM role and policy.

Only reads; the chain's resources (:mod:`infra.aws.aurora.order`)
and the doctor build on these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import boto3
from botocore.exceptions import ClientError

from infra.aws.aurora.config import CLUSTER_ARN, AuroraAccessConfig, AuroraAccessError, iam_arn
from infra.aws.settings import current_region


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
        return CLUSTER_ARN.match(self.arn)["partition"]

    @property
    def account(self) -> str:
        return CLUSTER_ARN.match(self.arn)["account"]

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
    match = CLUSTER_ARN.match(arn)
    if not match:
        raise AuroraAccessError(f"not a DB cluster ARN: {arn!r}")
    return match["region"]


def default_region() -> str:
    region = current_region()
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


def read_role(iam, role_name: str) -> dict | None:
    """The IAM role as ``get_role`` describes it, or None when it does not exist."""
    try:
        return iam.get_role(RoleName=role_name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None


def default_policy_document(iam, policy_arn: str) -> dict | None:
    """The default version's document, or None when the policy does not exist."""
    try:
        policy = iam.get_policy(PolicyArn=policy_arn)["Policy"]
    except iam.exceptions.NoSuchEntityException:
        return None
    return iam.get_policy_version(PolicyArn=policy_arn, VersionId=policy["DefaultVersionId"])[
        "PolicyVersion"
    ]["Document"]


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


def read_rds_tags(rds, arn: str) -> list[dict]:
    """The tags of an RDS resource, in AWS's Key/Value form."""
    return rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])
