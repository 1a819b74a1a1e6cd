"""What the doctor reads about functions and roles: does a function (or its alias)
exist, what does an alias point at, what may a role do.

Reads only. Shared by the doctor's link modules; the commands their findings suggest
are built in :mod:`infra.aws.doctor.fixes`.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.aws.aurora.config import INVOKE_ACTION
from infra.aws.iam_roles import attached_policy_arns, inline_policy_names
from infra.aws.policy_documents import policy_allows


def role_policy_documents(iam, role_name: str) -> list:
    """The default versions of the role's managed policies, and its inline policies."""
    documents = []
    for arn in attached_policy_arns(iam, role_name):
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        documents.append(
            iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        )
    for name in inline_policy_names(iam, role_name):
        documents.append(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
    return documents


def role_name_of(role_arn: str) -> str:
    """``arn:aws:iam::1:role/some/path/name`` -> ``name`` (what IAM's calls take)."""
    return role_arn.rsplit("/", 1)[1]


def uncovered_resources(documents: list, function_arns: Iterable[str]) -> list[str]:
    """The function ARNs (and ``<arn>:*`` forms) the documents do not let RDS invoke."""
    return [
        form
        for arn in function_arns
        for form in (arn, f"{arn}:*")
        if not policy_allows(documents, INVOKE_ACTION, form)
    ]


def function_configuration(lambda_client, name: str, qualifier: str | None = None) -> dict | None:
    """The configuration of ``name`` (at ``qualifier``: the version an alias points at),
    or None when the function or the qualifier does not exist."""
    options = {"Qualifier": qualifier} if qualifier else {}
    try:
        return lambda_client.get_function_configuration(FunctionName=name, **options)
    except lambda_client.exceptions.ResourceNotFoundException:
        return None


def function_exists(lambda_client, arn: str) -> bool:
    """True when the function (qualified: its version or alias too) exists."""
    try:
        lambda_client.get_function(FunctionName=arn)
    except lambda_client.exceptions.ResourceNotFoundException:
        return False
    return True


def alias_version(lambda_client, name: str, alias: str) -> str | None:
    """The version ``alias`` points at (``"3"``, or ``"$LATEST"``), None without it."""
    try:
        return lambda_client.get_alias(FunctionName=name, Name=alias)["FunctionVersion"]
    except lambda_client.exceptions.ResourceNotFoundException:
        return None


def published_versions(lambda_client, name: str) -> list[str]:
    """The function's published versions, oldest first (``$LATEST`` is not one).
    ``name`` may be an unqualified ARN; the call gets the name (moto lists nothing for an
    ARN; Lambda takes either)."""
    if name.startswith("arn:"):
        name = name.split(":")[6]
    versions = []
    for page in lambda_client.get_paginator("list_versions_by_function").paginate(
        FunctionName=name
    ):
        versions.extend(v["Version"] for v in page["Versions"] if v["Version"] != "$LATEST")
    return sorted(versions, key=int)
