"""Aurora's IAM documents: the policy that lets it invoke the functions, and the trust
policy of the role it assumes (confined to the cluster(s) and their account)."""

from __future__ import annotations

from collections.abc import Iterable

from infra.aws.aurora.config import CLUSTER_ARN, INVOKE_ACTION, RDS_SERVICE, AuroraAccessError
from infra.aws.policy_documents import service_trust_policy, source_conditions


def invoke_policy_document(function_arns: Iterable[str]) -> dict:
    """``lambda:InvokeFunction`` on each function and its qualified forms, nothing else."""
    resources = sorted({form for arn in function_arns for form in (arn, f"{arn}:*")})
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AuroraInvokesTheseFunctions",
                "Effect": "Allow",
                "Action": INVOKE_ACTION,
                "Resource": resources,
            }
        ],
    }


def rds_source_conditions(cluster_arns: Iterable[str]) -> dict:
    """RDS may assume the role only for these clusters, and only in their account."""
    arns = sorted(set(cluster_arns))
    accounts = set()
    for arn in arns:
        match = CLUSTER_ARN.match(arn)
        if not match:
            raise AuroraAccessError(f"not a DB cluster ARN: {arn!r}")
        accounts.add(match["account"])
    if len(accounts) != 1:
        raise AuroraAccessError(
            "the role serves clusters of one account; got "
            + (", ".join(arns) if arns else "no cluster")
        )
    return source_conditions(accounts.pop(), arns)


def rds_trust_policy(cluster_arns: Iterable[str]) -> dict:
    """The role's trust policy: RDS (Aurora) may assume it on behalf of exactly these
    clusters (the cluster and every cluster of its global database) of their account."""
    return service_trust_policy(RDS_SERVICE, rds_source_conditions(cluster_arns))
