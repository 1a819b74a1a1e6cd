"""What Aurora's access to Lambda is given: the cluster, the functions, the prefix and the
names that follow from it (the chain itself: :mod:`infra.aws.aurora.order`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from infra.aws.tags import project_tags
from infra.catalog import DEFAULT_PREFIX
from migrations.function_arns import FunctionArn

RDS_SERVICE = "rds.amazonaws.com"
INVOKE_ACTION = "lambda:InvokeFunction"
LAMBDA_ROLE_PARAMETER = "aws_default_lambda_role"
ACTIVATE_ROLES_PARAMETER = "activate_all_roles_on_login"
# On a parameter group the chain made: the group the cluster used before, to go back to.
REPLACED_GROUP_TAG = "aurora-events:replaced-parameter-group"
MAX_POLICY_VERSIONS = 5  # IAM's limit per managed policy

CLUSTER_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):rds:(?P<region>[^:]+):(?P<account>\d{12}):cluster:(?P<id>.+)$"
)


class AuroraAccessError(RuntimeError):
    """The chain cannot be planned or changed as asked; the message says why."""


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
            parsed = FunctionArn.find(arn)
            if parsed is None or parsed.qualifier is not None:
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

    def tags_to_apply(self) -> dict[str, str]:
        """The extra tags and the project's (which win: destroy looks for them)."""
        return {**self.tags, **project_tags(self.prefix)}


def iam_arn(partition: str, account: str, kind: str, name: str) -> str:
    return f"arn:{partition}:iam::{account}:{kind}/{name}"
