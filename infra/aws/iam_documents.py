"""IAM policy documents and the project's tags: building, reading and comparing them.

Shared by the event path (execution roles) and Aurora's access chain (its role and policy),
so both mean the same by "the same policy" and "ours".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

PROJECT = "aurora-events"


# -- tags --------------------------------------------------------------------------------


def project_tags(prefix: str) -> dict[str, str]:
    """The tags every resource of a deployment carries; destroy removes only these."""
    return {"project": PROJECT, "aurora-events:prefix": prefix}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """AWS's ``[{"Key": ..., "Value": ...}]`` form."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def is_project_resource(tags: Iterable[Mapping[str, str]] | Mapping[str, str], prefix: str) -> bool:
    """True when ``tags`` (AWS's Key/Value list, or a dict) mark a resource of this prefix."""
    if not isinstance(tags, Mapping):
        tags = {tag["Key"]: tag["Value"] for tag in tags}
    return all(tags.get(key) == value for key, value in project_tags(prefix).items())


# -- documents ---------------------------------------------------------------------------


def service_trust_policy(service: str) -> dict:
    """A role trust policy: ``service`` (e.g. ``rds.amazonaws.com``) may assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def as_list(value) -> list:
    """A JSON policy field (one value or a list) as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def statements(document) -> list[dict]:
    if isinstance(document, str):  # boto3 gives IAM documents as dicts; JSON text is fine too
        document = json.loads(document)
    return as_list(document.get("Statement"))


def permission_grants(document) -> set[tuple[str, str, str]]:
    """The (effect, action, resource) triples a policy document states, for comparison."""
    grants = set()
    for statement in statements(document):
        effect = statement.get("Effect", "")
        if {"NotAction", "NotResource", "Condition", "Principal"} & statement.keys():
            # Statements we never write: keep them visible to the comparison as a whole.
            grants.add((effect, "(other)", json.dumps(statement, sort_keys=True)))
            continue
        for action in as_list(statement.get("Action")):
            for resource in as_list(statement.get("Resource")):
                grants.add((effect, str(action), str(resource)))
    return grants


def policy_drift(current, desired) -> list[str]:
    """What ``desired`` adds (``+``) to and removes (``-``) from ``current``, one line each."""
    now, wanted = permission_grants(current), permission_grants(desired)
    lines = [f"+ {e} {a} on {r}" for e, a, r in sorted(wanted - now)]
    lines += [f"- {e} {a} on {r}" for e, a, r in sorted(now - wanted)]
    return lines


def trusts_service(document, service: str) -> bool:
    """True when an Allow statement lets ``service`` assume the role."""
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if "sts:AssumeRole" not in as_list(statement.get("Action")):
            continue
        principal = statement.get("Principal") or {}
        if isinstance(principal, Mapping) and service in as_list(principal.get("Service")):
            return True
    return False


def trust_matches(current, desired) -> bool:
    """True when the trust policy says what ``desired`` says (and nothing else)."""

    def normal(document):
        return sorted(json.dumps(s, sort_keys=True) for s in statements(document))

    return normal(current) == normal(desired)
