"""Planning a role that one AWS service assumes: create it, or fix its trust policy."""

from __future__ import annotations

import json
from collections.abc import Mapping

from infra.aws.changes import Change
from infra.aws.iam_documents import (
    describe_conditions,
    service_trust_policy,
    tag_list,
    trust_matches,
)


def attached_policy_arns(iam, role_name: str) -> list[str]:
    """The ARNs of the managed policies attached to the role."""
    arns = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        arns.extend(p["PolicyArn"] for p in page["AttachedPolicies"])
    return arns


def plan_service_role(
    iam,
    name: str,
    service: str,
    tags: Mapping[str, str],
    description: str,
    *,
    conditions: Mapping | None = None,
) -> tuple[dict | None, list[Change]]:
    """The role as it is now (None if missing) and the changes that make it trust exactly
    ``service`` (under ``conditions``, when given). Its permissions are the caller's
    business."""
    trust = service_trust_policy(service, conditions)
    resource = f"iam role {name}"
    limits = describe_conditions(conditions)
    only_when = f" only when {limits}" if limits else ""
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        create = Change(
            resource,
            "create",
            f"trusting {service}{only_when}",
            run=lambda: iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=description,
                Tags=tag_list(tags),
            ),
        )
        return None, [create]
    changes = []
    if not trust_matches(role["AssumeRolePolicyDocument"], trust):
        changes.append(
            Change(
                resource,
                "update",
                f"trust policy: only {service} may assume it{only_when}",
                run=lambda: iam.update_assume_role_policy(
                    RoleName=name, PolicyDocument=json.dumps(trust)
                ),
            )
        )
    return role, changes
