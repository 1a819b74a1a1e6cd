"""Planning a role that one AWS service assumes: create it, or fix its trust policy;
refusing to take over an IAM role or policy that carries another owner's tags; and reading
a role's tags and policies (every page)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping

from infra.aws.changes import Change
from infra.aws.policy_documents import (
    describe_conditions,
    policy_drift,
    service_trust_policy,
    trust_matches,
)
from infra.aws.tags import is_project_resource, project_tags, tag_list

ADOPT_OPTION = "--adopt-existing-roles"


class ForeignResourceError(RuntimeError):
    """An IAM resource with this deployment's name exists without its tags: it may belong
    to something else, so nothing takes it over unless asked to."""


def foreign_resource_message(resource: str, prefix: str) -> str:
    tags = ", ".join(f"{key}={value}" for key, value in project_tags(prefix).items())
    return (
        f"{resource} exists but does not carry this deployment's tags ({tags}); it may "
        f"belong to something else. Re-run with {ADOPT_OPTION} to take it over, or choose "
        "another prefix"
    )


def plan_adoption(
    resource: str,
    current_tags: Iterable[Mapping[str, str]],
    tags: Mapping[str, str],
    prefix: str,
    adopt: bool,
    tag: Callable[[list[dict[str, str]]], object],
) -> list[Change]:
    """Nothing when the resource carries this deployment's tags; else, with ``adopt``, the
    change that tags it (``tag`` is given AWS's tag list); without, :class:`ForeignResourceError`.
    """
    if is_project_resource(current_tags, prefix):
        return []
    if not adopt:
        raise ForeignResourceError(foreign_resource_message(resource, prefix))
    wanted = tag_list(tags)
    return [
        Change(
            resource,
            "adopt",
            "tag it " + ", ".join(f"{t['Key']}={t['Value']}" for t in wanted),
            run=lambda: tag(wanted),
        )
    ]


def role_tags(iam, name: str) -> list[dict[str, str]]:
    """The role's tags, in AWS's Key/Value form (every page)."""
    found = []
    for page in iam.get_paginator("list_role_tags").paginate(RoleName=name):
        found.extend(page["Tags"])
    return found


def attached_policy_arns(iam, role_name: str) -> list[str]:
    """The ARNs of the managed policies attached to the role."""
    arns = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        arns.extend(p["PolicyArn"] for p in page["AttachedPolicies"])
    return arns


def inline_policy_names(iam, role_name: str) -> list[str]:
    """The names of the role's inline policies."""
    names = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        names.extend(page["PolicyNames"])
    return names


def plan_service_role(
    iam,
    name: str,
    service: str,
    tags: Mapping[str, str],
    description: str,
    *,
    prefix: str,
    conditions: Mapping | None = None,
    adopt: bool = False,
) -> tuple[dict | None, list[Change]]:
    """The role as it is now (None if missing) and the changes that make it trust exactly
    ``service`` (under ``conditions``, when given). Its permissions are the caller's
    business. A role of that name without the tags of ``prefix`` is refused
    (:class:`ForeignResourceError`) unless ``adopt``: then it is tagged first."""
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
    changes = plan_adoption(
        resource,
        role_tags(iam, name),
        tags,
        prefix,
        adopt,
        lambda wanted: iam.tag_role(RoleName=name, Tags=wanted),
    )
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


def plan_inline_policy(
    iam, role_name: str, role_exists: bool, policy_name: str, policy: dict
) -> Iterator[Change]:
    """The change that puts ``policy`` as the role's inline policy ``policy_name``: set when
    it is missing, updated when its statements differ, nothing when they agree."""
    current = None
    if role_exists:
        with contextlib.suppress(iam.exceptions.NoSuchEntityException):
            current = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)[
                "PolicyDocument"
            ]
    drift = policy_drift(current or {}, policy)
    if current is None or drift:
        yield Change(
            f"iam role {role_name} policy {policy_name}",
            "set" if current is None else "update",
            "; ".join(drift),
            run=lambda: iam.put_role_policy(
                RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(policy)
            ),
        )
