"""Planning Aurora's access to Lambda: the chain ``lambda_async`` needs.

Links, in order (shared/reference/aurora-native-lambda.md, "Setup, in order"):

1. IAM policy ``<prefix>-aurora-invoke-lambda``: ``lambda:InvokeFunction`` on exactly the
   given functions and their qualified forms (``<arn>:*``), never ``*``
   (:mod:`infra.aws.aurora_policies` writes it);
2. IAM role ``<prefix>-aurora-lambda`` trusting ``rds.amazonaws.com`` only on behalf of the
   cluster's account and of the cluster and every cluster of its global database
   (``aws:SourceAccount``, ``aws:SourceArn``: no other account's RDS can act through it),
   the policy attached;
3. a custom DB cluster parameter group with ``aws_default_lambda_role`` = the role's ARN
   (a cluster on a ``default.*`` group is moved to a copy, ``<prefix>-<cluster>-params``);
4. the role associated with the cluster (no FeatureName: that is the Aurora PostgreSQL form).

Links 3 and 4 are made on every cluster of a global database. The database grant is
:mod:`infra.database.grants`; checking the whole chain is :mod:`infra.aws.doctor`; undoing
it is :mod:`infra.aws.aurora_destroy`.

:func:`plan_aurora_access` only reads (:mod:`infra.aws.aurora_state`); the returned
:class:`~infra.aws.changes.Change` objects do the work when run by
:func:`~infra.aws.changes.apply_changes`. A reboot is never part of a plan unless asked
for (``reboot=True``): it takes the writer down. A role or policy of this prefix's name
that lacks this deployment's tags is refused (the plan raises
:class:`~infra.aws.iam_roles.ForeignResourceError`) unless ``adopt_existing=True``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import partial

from infra.aws.aurora_config import (
    ACTIVATE_ROLES_PARAMETER,
    INVOKE_ACTION,
    LAMBDA_ROLE_PARAMETER,
    MAX_POLICY_VERSIONS,
    RDS_SERVICE,
    REPLACED_GROUP_TAG,
    AuroraAccessConfig,
)
from infra.aws.aurora_policies import invoke_policy_document, rds_source_conditions
from infra.aws.aurora_state import (
    Clients,
    ClusterState,
    Parameter,
    access_identities,
    checked_engine_major,
    default_policy_document,
    engine_major_version,
    is_default_group,
    parameter_group_exists,
    parameter_group_family,
    read_clusters,
    read_parameters,
)
from infra.aws.changes import Change, call_unless_unsupported
from infra.aws.iam_roles import attached_policy_arns, plan_adoption, plan_service_role
from infra.aws.policy_documents import policy_drift
from infra.aws.tags import tag_list


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


# -- IAM ---------------------------------------------------------------------------------


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
                    Tags=tag_list(config.tags_to_apply()),
                ),
            )
        ]
    changes = plan_adoption(
        resource,
        iam.list_policy_tags(PolicyArn=policy_arn)["Tags"],
        config.tags_to_apply(),
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
        config.tags_to_apply(),
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


# -- clusters -----------------------------------------------------------------------------


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
        rds,
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
