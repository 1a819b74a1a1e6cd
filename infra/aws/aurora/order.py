"""Aurora's access to Lambda, the chain ``lambda_async`` needs, as resources in one
declared order (shared/reference/aurora-native-lambda.md, "Setup, in order"): ``plan``
walks it first to last, ``destroy`` last to first.

1. ``policy`` (:mod:`~infra.aws.aurora.invoke_policy`): what the role may invoke;
2. ``role`` (:mod:`~infra.aws.aurora.role`): RDS may assume it, the policy attached;
3. ``parameter`` (:mod:`~infra.aws.aurora.parameters`): each cluster names the role;
4. ``association`` (:mod:`~infra.aws.aurora.association`): each cluster holds the role;
5. ``reboot`` (:mod:`~infra.aws.aurora.reboot`): only when asked, so the parameters apply.

The database grant is :mod:`infra.database.grants`; checking the whole chain is
:mod:`infra.aws.doctor`. Planning only reads (:mod:`infra.aws.aurora.state`); the
returned :class:`~infra.aws.changes.Change` objects do the work when run by
:func:`~infra.aws.changes.apply_changes`. A role or policy of this prefix's name that lacks
this deployment's tags is refused (:class:`~infra.aws.iam_roles.ForeignResourceError`)
unless ``adopt_existing=True``.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.aws.aurora.association import RoleAssociation
from infra.aws.aurora.config import AuroraAccessConfig, AuroraAccessError
from infra.aws.aurora.context import AuroraContext
from infra.aws.aurora.invoke_policy import InvokePolicy
from infra.aws.aurora.parameters import ClusterParameters
from infra.aws.aurora.reboot import Reboot
from infra.aws.aurora.role import AuroraRole
from infra.aws.aurora.state import Clients
from infra.aws.changes import Change

AURORA_CHAIN = (InvokePolicy, AuroraRole, ClusterParameters, RoleAssociation, Reboot)

KEYS = {kind.key: kind for kind in AURORA_CHAIN}


def chain(only: Iterable[str] = ()) -> tuple:
    """The declared order, or the part of it ``only`` names (in the declared order)."""
    only = tuple(only)
    unknown = [key for key in only if key not in KEYS]
    if unknown:
        raise AuroraAccessError(
            f"no resource {', '.join(unknown)} in Aurora's chain: choose among {', '.join(KEYS)}"
        )
    return tuple(kind for kind in AURORA_CHAIN if not only or kind.key in only)


def plan_aurora_access(
    config: AuroraAccessConfig,
    *,
    reboot: bool = False,
    adopt_existing: bool = False,
    clients: Clients | None = None,
    only: Iterable[str] = (),
) -> list[Change]:
    """Everything that must change for the cluster(s) to invoke the functions; changes
    nothing. ``only``: the resources of the chain to plan (default: all of them)."""
    context = AuroraContext(config, clients, reboot=reboot, adopt_existing=adopt_existing)
    # ClusterParameters runs before Reboot, which reads what it recorded.
    return [change for kind in chain(only) for change in kind(context).plan()]


def plan_destroy(
    config: AuroraAccessConfig, clients: Clients | None = None, only: Iterable[str] = ()
) -> list[Change]:
    """Remove what :func:`plan_aurora_access` made, last link first; resources not tagged
    as ours are kept."""
    context = AuroraContext(config, clients)
    return [change for kind in reversed(chain(only)) for change in kind(context).plan_destroy()]
