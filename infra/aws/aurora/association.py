"""The chain's fourth link, on every cluster: the role associated with the cluster (no
FeatureName: that is the Aurora PostgreSQL form), status ACTIVE."""

from __future__ import annotations

from functools import partial

from infra.aws.aurora.context import AuroraResource
from infra.aws.aurora.state import ClusterState
from infra.aws.changes import Change, call_unless_unsupported


def remove_role(rds, cluster: str, role_arn: str) -> None:
    # moto 5.2 does not implement RemoveRoleFromDBCluster (HTTP 500): reported, not faked.
    call_unless_unsupported(
        rds,
        "RemoveRoleFromDBCluster",
        partial(rds.remove_role_from_db_cluster, DBClusterIdentifier=cluster, RoleArn=role_arn),
    )


def reassociate_role(rds, cluster: str, role_arn: str) -> None:
    remove_role(rds, cluster, role_arn)
    rds.add_role_to_db_cluster(DBClusterIdentifier=cluster, RoleArn=role_arn)


class RoleAssociation(AuroraResource):
    """Associate the role with each cluster; an INVALID association is made again."""

    key = "association"

    def plan(self) -> list[Change]:
        changes = []
        for cluster in self.context.clusters:
            changes += self.plan_cluster(cluster)
        return changes

    def plan_cluster(self, cluster: ClusterState) -> list[Change]:
        rds = self.context.clients.rds(cluster.region)
        role_arn, role_name = self.context.role_arn, self.config.role_name
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

    def plan_destroy(self) -> list[Change]:
        role_arn = self.context.role_arn
        return [
            Change(
                f"db cluster {cluster.identifier} ({cluster.region})",
                "disassociate",
                f"iam role {self.config.role_name}",
                run=partial(
                    remove_role,
                    self.context.clients.rds(cluster.region),
                    cluster.identifier,
                    role_arn,
                ),
            )
            for cluster in self.context.clusters
            if role_arn in cluster.roles
        ]
