"""What the chain's resources share while one plan runs: the configuration, the boto3
clients, the clusters as read (a global database's members too), the role and policy
identities, and the options (reboot, adopt). Read once, when the context is made."""

from __future__ import annotations

from infra.aws.aurora.config import AuroraAccessConfig
from infra.aws.aurora.state import (
    Clients,
    ClusterState,
    access_identities,
    checked_engine_major,
    read_clusters,
)


class AuroraContext:
    """One plan of Aurora's access to Lambda.

    ``reboot``: plan the reboots the parameters need (they take the writer down; never
    unless asked). ``adopt_existing``: take over a role or policy of these names that lacks
    this deployment's tags (without it such a one is refused). ``needs_reboot`` collects the
    clusters whose planned parameter changes apply only at a reboot."""

    def __init__(
        self,
        config: AuroraAccessConfig,
        clients: Clients | None = None,
        *,
        reboot: bool = False,
        adopt_existing: bool = False,
        clusters: list[ClusterState] | None = None,
    ) -> None:
        self.config = config
        self.clients = clients or Clients()
        self.reboot = reboot
        self.adopt_existing = adopt_existing
        # ``clusters``: as already read (else read here).
        self.clusters: list[ClusterState] = clusters or read_clusters(self.clients, config.cluster)
        self.major = checked_engine_major(config, self.clusters[0])
        self.iam = self.clients.iam()
        self.policy_arn, self.role, self.role_arn = access_identities(
            self.iam, config, self.clusters[0]
        )
        self.needs_reboot: set[str] = set()

    @property
    def cluster_arns(self) -> list[str]:
        return [cluster.arn for cluster in self.clusters]


class AuroraResource:
    """A link of the chain, planned with the shared :class:`AuroraContext`; answers
    ``plan()`` and ``plan_destroy()`` as :class:`infra.aws.resources.base.Resource` does."""

    key: str

    def __init__(self, context: AuroraContext) -> None:
        self.context = context
        self.config = context.config

    def plan(self):
        return []

    def plan_destroy(self):
        return []
