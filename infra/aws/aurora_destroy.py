"""Undoing Aurora's access to Lambda: what :mod:`infra.aws.aurora_plan` made, and only
what carries this deployment's tags (a parameter group that is not ours keeps everything
but the one parameter the chain set)."""

from __future__ import annotations

import time
from functools import partial

from infra.aws.aurora_config import (
    LAMBDA_ROLE_PARAMETER,
    REPLACED_GROUP_TAG,
    AuroraAccessConfig,
    AuroraAccessError,
)
from infra.aws.aurora_plan import use_parameter_group
from infra.aws.aurora_state import (
    Clients,
    ClusterState,
    Parameter,
    access_identities,
    default_policy_document,
    is_default_group,
    parameter_group_exists,
    read_clusters,
    read_parameters,
    read_rds_tags,
)
from infra.aws.changes import Change, call_unless_unsupported
from infra.aws.iam_roles import attached_policy_arns
from infra.aws.tags import is_project_resource


def remove_role(rds, cluster: str, role_arn: str) -> None:
    # moto 5.2 does not implement RemoveRoleFromDBCluster (HTTP 500): reported, not faked.
    call_unless_unsupported(
        rds,
        "RemoveRoleFromDBCluster",
        partial(rds.remove_role_from_db_cluster, DBClusterIdentifier=cluster, RoleArn=role_arn),
    )


def reset_parameter(rds, group: str, name: str) -> None:
    # moto 5.2 does not implement ResetDBClusterParameterGroup: reported, not faked.
    call_unless_unsupported(
        rds,
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
    tags = read_rds_tags(rds, described["DBClusterParameterGroupArn"]) if described else []
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
    """Remove what :func:`~infra.aws.aurora_plan.plan_aurora_access` made; resources not
    tagged as ours are kept."""
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
