"""The chain's third link, on every cluster (a global database's members too): a custom
DB cluster parameter group with ``aws_default_lambda_role`` = the role's ARN (and
``activate_all_roles_on_login`` when asked, v3). A cluster on a ``default.*`` group is moved
to a copy, ``<prefix>-<cluster>-params``, tagged with the group it replaced; destroy moves
it back and deletes the copy, and on a group that is not ours resets only the parameter."""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial

from infra.aws.aurora.config import (
    ACTIVATE_ROLES_PARAMETER,
    LAMBDA_ROLE_PARAMETER,
    REPLACED_GROUP_TAG,
    AuroraAccessConfig,
    AuroraAccessError,
)
from infra.aws.aurora.context import AuroraResource
from infra.aws.aurora.state import (
    ClusterState,
    Parameter,
    engine_major_version,
    is_default_group,
    parameter_group_exists,
    parameter_group_family,
    read_parameters,
    read_rds_tags,
)
from infra.aws.changes import Change, call_unless_unsupported
from infra.aws.tags import is_project_resource, tag_list


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


class ClusterParameters(AuroraResource):
    """The parameters on each cluster's custom group (made first where it has none)."""

    key = "parameter"

    def plan(self) -> list[Change]:
        desired = desired_parameters(self.config, self.context.role_arn, self.context.major)
        changes = []
        for cluster in self.context.clusters:
            cluster_changes, needs_reboot = self.plan_cluster(cluster, desired)
            changes += cluster_changes
            if needs_reboot:
                self.context.needs_reboot.add(cluster.identifier)
        return changes

    def plan_cluster(
        self, cluster: ClusterState, desired: dict[str, str]
    ) -> tuple[list[Change], bool]:
        """One cluster's changes, and whether they take effect only at a reboot."""
        config = self.config
        rds = self.context.clients.rds(cluster.region)
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
                tags = {**config.tags_to_apply(), REPLACED_GROUP_TAG: cluster.parameter_group}
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
                f"parameter group {cluster.parameter_group} -> {group} "
                "(applies at the next reboot)",
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

    def plan_destroy(self) -> list[Change]:
        changes = []
        for cluster in self.context.clusters:
            changes += self.destroy_cluster(cluster)
        return changes

    def destroy_cluster(self, cluster: ClusterState) -> list[Change]:
        """Back to the group the cluster used before; delete our group only if it is ours;
        on a group that is not ours, reset only the parameter the chain set."""
        config, role_arn = self.config, self.context.role_arn
        rds = self.context.clients.rds(cluster.region)
        where = f"({cluster.region})"
        changes = []
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
