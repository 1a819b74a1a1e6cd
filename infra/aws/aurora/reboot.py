"""The reboot the parameters need, only when asked for (``--reboot``: it takes the writer
down): each instance of a cluster whose planned parameter changes apply at a reboot, or
whose parameters already wait for one. Nothing to destroy."""

from __future__ import annotations

from functools import partial

from infra.aws.aurora.context import AuroraResource
from infra.aws.changes import Change


class Reboot(AuroraResource):
    """Reboot each instance of the clusters that need it (Aurora reboots instances, not
    clusters); after :class:`~infra.aws.aurora.parameters.ClusterParameters` in the order,
    which records the clusters its changes need rebooted."""

    key = "reboot"

    def plan(self) -> list[Change]:
        if not self.context.reboot:
            return []
        changes = []
        for cluster in self.context.clusters:
            if cluster.identifier in self.context.needs_reboot or cluster.pending_reboot():
                rds = self.context.clients.rds(cluster.region)
                changes += [
                    Change(
                        f"db instance {member.instance} ({cluster.region})",
                        "reboot",
                        f"so that db cluster {cluster.identifier}'s parameters apply"
                        + (" (writer)" if member.writer else ""),
                        run=partial(rds.reboot_db_instance, DBInstanceIdentifier=member.instance),
                    )
                    for member in cluster.members
                ]
        return changes
