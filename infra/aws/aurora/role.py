"""The chain's second link: the IAM role ``<prefix>-aurora-lambda``, trusting
``rds.amazonaws.com`` only on behalf of the cluster's account and of the cluster and every
cluster of its global database (``aws:SourceAccount``, ``aws:SourceArn``: no other
account's RDS can act through it), with the invoke policy attached."""

from __future__ import annotations

from functools import partial

from infra.aws.aurora.config import RDS_SERVICE
from infra.aws.aurora.context import AuroraResource
from infra.aws.aurora.policies import rds_source_conditions
from infra.aws.changes import Change
from infra.aws.iam_roles import attached_policy_arns, plan_service_role
from infra.aws.tags import is_project_resource


class AuroraRole(AuroraResource):
    """Create the role with the policy attached, or fix its trust, tags and attachment. A
    role without this deployment's tags is refused unless adopting."""

    key = "role"

    def plan(self) -> list[Change]:
        iam, config, policy_arn = self.context.iam, self.config, self.context.policy_arn
        role, changes = plan_service_role(
            iam,
            config.role_name,
            RDS_SERVICE,
            config.tags_to_apply(),
            "Aurora MySQL assumes this role to invoke Lambda functions",
            prefix=config.prefix,
            conditions=rds_source_conditions(self.context.cluster_arns),
            adopt=self.context.adopt_existing,
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

    def plan_destroy(self) -> list[Change]:
        """Detach the policy; delete the role when it carries this deployment's tags."""
        iam, config, role = self.context.iam, self.config, self.context.role
        if role is None:
            return []
        resource = f"iam role {config.role_name}"
        changes = []
        if self.context.policy_arn in attached_policy_arns(iam, config.role_name):
            changes.append(
                Change(
                    resource,
                    "detach",
                    f"policy {config.policy_name}",
                    run=partial(
                        iam.detach_role_policy,
                        RoleName=config.role_name,
                        PolicyArn=self.context.policy_arn,
                    ),
                )
            )
        if is_project_resource(role.get("Tags", []), config.prefix):
            changes.append(
                Change(resource, "delete", run=partial(iam.delete_role, RoleName=config.role_name))
            )
        else:
            changes.append(Change(resource, "keep", "not tagged as this project's"))
        return changes
