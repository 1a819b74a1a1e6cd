"""The chain's first link: the IAM policy ``<prefix>-aurora-invoke-lambda``,
``lambda:InvokeFunction`` on exactly the given functions and their qualified forms
(``<arn>:*``), never ``*`` (:mod:`infra.aws.aurora.policies` writes the document)."""

from __future__ import annotations

import json
from functools import partial

from infra.aws.aurora.config import INVOKE_ACTION, MAX_POLICY_VERSIONS
from infra.aws.aurora.context import AuroraResource
from infra.aws.aurora.policies import invoke_policy_document
from infra.aws.aurora.state import default_policy_document
from infra.aws.changes import Change
from infra.aws.iam_roles import plan_adoption
from infra.aws.policy_documents import policy_drift
from infra.aws.tags import is_project_resource, tag_list


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


def delete_policy(iam, policy_arn: str) -> None:
    """Delete a managed policy: its non-default versions first, as IAM requires."""
    for version in iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=policy_arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=policy_arn)


class InvokePolicy(AuroraResource):
    """Create the invoke policy, or make its default version say exactly what it should.
    An existing policy without this deployment's tags is refused unless adopting."""

    key = "policy"

    def plan(self) -> list[Change]:
        iam, config, policy_arn = self.context.iam, self.config, self.context.policy_arn
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
                        Description="Aurora MySQL lambda_async/lambda_sync may invoke these "
                        "functions",
                        Tags=tag_list(config.tags_to_apply()),
                    ),
                )
            ]
        changes = plan_adoption(
            resource,
            iam.list_policy_tags(PolicyArn=policy_arn)["Tags"],
            config.tags_to_apply(),
            config.prefix,
            self.context.adopt_existing,
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

    def plan_destroy(self) -> list[Change]:
        """Delete the policy when it carries this deployment's tags; keep it otherwise."""
        iam, config, policy_arn = self.context.iam, self.config, self.context.policy_arn
        if default_policy_document(iam, policy_arn) is None:
            return []
        resource = f"iam policy {config.policy_name}"
        if is_project_resource(iam.list_policy_tags(PolicyArn=policy_arn)["Tags"], config.prefix):
            return [Change(resource, "delete", run=partial(delete_policy, iam, policy_arn))]
        return [Change(resource, "keep", "not tagged as this project's")]
