"""The VPC endpoints' declared settings (services, policies, ingress) and how they compare
with what EC2 reports: pure functions, no calls (:mod:`infra.aws.resources.vpc_endpoints`
plans with them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from infra.aws.iam_roles import ForeignResourceError
from infra.aws.policy_documents import statements_match
from infra.catalog import FUNCTIONS, Deployment

ENDPOINT_SERVICES = ("secretsmanager", "lambda")
# What the path calls through each endpoint (the functions read their secrets; Aurora and
# the relay invoke functions), and all its endpoint policy lets through.
ENDPOINT_ACTIONS = {
    "secretsmanager": ("secretsmanager:GetSecretValue",),
    "lambda": ("lambda:InvokeFunction",),
}
SECRET_SETTINGS = ("database_secret_id", "relay_database_secret_id")
SECURITY_GROUP_NAME = "endpoints"  # deployed as <prefix>-endpoints
HTTPS_PORT = 443
# Endpoint states that no longer route anything (or never will), and those already going.
GONE_STATES = ("deleting", "deleted", "failed", "rejected", "expired")
LEAVING_STATES = ("deleting", "deleted")
# What private DNS needs of the VPC.
DNS_ATTRIBUTES = {
    "enableDnsSupport": "EnableDnsSupport",
    "enableDnsHostnames": "EnableDnsHostnames",
}


class ForeignEndpointError(ForeignResourceError):
    """An endpoint or security group in the way exists without the deployment's tags."""


# -- pure helpers ------------------------------------------------------------------------


def service_name(region: str, service: str) -> str:
    """The endpoint service of an AWS service in a region: ``com.amazonaws.<region>.<service>``."""
    return f"com.amazonaws.{region}.{service}"


def secret_arn(target, secret_id: str) -> str:
    """The ARN a policy names a secret by: the setting itself when it is an ARN; for a name,
    every ARN Secrets Manager gives that name (the name, a dash, six random characters)."""
    if secret_id.startswith("arn:"):
        return secret_id
    return target.arn("secretsmanager", f"secret:{secret_id}-??????")


def endpoint_resources(service: str, deployment: Deployment, target) -> list[str]:
    """What the endpoint of ``service`` lets the path reach: the deployment's secrets, or
    its functions (each, and its versions and aliases)."""
    if service == "secretsmanager":
        ids = [getattr(deployment, name) for name in SECRET_SETTINGS]
        return sorted({secret_arn(target, secret_id) for secret_id in ids if secret_id})
    arns = [
        target.arn("lambda", f"function:{deployment.resource_name(spec.name)}")
        for spec in FUNCTIONS
    ]
    return sorted(form for arn in arns for form in (arn, f"{arn}:*"))


def endpoint_policy(service: str, account: str, resources: Iterable[str]) -> dict:
    """The endpoint policy of ``service``'s endpoint: principals of ``account`` only, the
    path's actions only (:data:`ENDPOINT_ACTIONS`), on ``resources`` only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ThisDeploymentOnly",
                "Effect": "Allow",
                "Principal": "*",
                "Action": list(ENDPOINT_ACTIONS[service]),
                "Resource": sorted(resources),
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account}},
            }
        ],
    }


def one_subnet_per_zone(subnets: Iterable[Mapping], order: Iterable[str]) -> list[str]:
    """The first subnet of ``order`` in each availability zone (``subnets`` as
    ``DescribeSubnets`` gives them): an interface endpoint takes one subnet per zone."""
    zones = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}
    chosen: dict[str, str] = {}
    for subnet in order:
        chosen.setdefault(zones[subnet], subnet)
    return list(chosen.values())


def https_rule(groups: Iterable[str]) -> dict:
    """The ingress permission: TCP 443 from each of ``groups``."""
    return {
        "IpProtocol": "tcp",
        "FromPort": HTTPS_PORT,
        "ToPort": HTTPS_PORT,
        "UserIdGroupPairs": [{"GroupId": group} for group in sorted(groups)],
    }


def _is_https(permission: Mapping) -> bool:
    return (
        permission.get("IpProtocol") == "tcp"
        and permission.get("FromPort") == HTTPS_PORT
        and permission.get("ToPort") == HTTPS_PORT
    )


def admitted_groups(permissions: Iterable[Mapping]) -> set[str]:
    """The security groups an ingress rule set admits on HTTPS."""
    return {
        pair["GroupId"]
        for permission in permissions
        if _is_https(permission)
        for pair in permission.get("UserIdGroupPairs", [])
    }


def ingress_drift(permissions: Iterable[Mapping], wanted: set[str]) -> tuple[set[str], list[dict]]:
    """What makes ``permissions`` admit HTTPS from exactly ``wanted``: the groups to add,
    and the permissions to revoke (every other group, address range, port or protocol)."""
    permissions = list(permissions)
    revoke = []
    for permission in permissions:
        ranges = {
            key: [{field: item[field]} for item in permission.get(key, [])]
            for key, field in (
                ("IpRanges", "CidrIp"),
                ("Ipv6Ranges", "CidrIpv6"),
                ("PrefixListIds", "PrefixListId"),
            )
            if permission.get(key)
        }
        pairs = [
            {"GroupId": pair["GroupId"]}
            for pair in permission.get("UserIdGroupPairs", [])
            if not (_is_https(permission) and pair["GroupId"] in wanted)
        ]
        if pairs or ranges:
            rule = {
                key: permission[key]
                for key in ("IpProtocol", "FromPort", "ToPort")
                if key in permission
            }
            revoke.append({**rule, **ranges, **({"UserIdGroupPairs": pairs} if pairs else {})})
    return wanted - admitted_groups(permissions), revoke


def policy_matches(current: str | None, wanted: dict) -> bool:
    """True when an endpoint's policy (the JSON text EC2 describes) is ``wanted``."""
    try:
        return current is not None and statements_match(current, wanted)
    except ValueError:  # not JSON: not ours
        return False


def describe_policy(policy: dict) -> str:
    """``GetSecretValue on 2 resource(s), principals of account 1`` for a plan line."""
    (statement,) = policy["Statement"]
    actions = ", ".join(action.split(":", 1)[1] for action in statement["Action"])
    account = statement["Condition"]["StringEquals"]["aws:PrincipalAccount"]
    return (
        f"{actions} on {len(statement['Resource'])} resource(s) of this deployment, "
        f"principals of account {account} only"
    )


def is_live(endpoint: Mapping) -> bool:
    return str(endpoint.get("State", "")).lower() not in GONE_STATES
