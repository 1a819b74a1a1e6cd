"""IAM policy documents in general: building trust policies, reading statements,
comparing two documents and evaluating what one allows.

Shared by the event path (execution roles), Aurora's access chain and the doctor, so all
mean the same by "the same policy" and "allowed". The project's own policies are built
elsewhere: Aurora's in :mod:`infra.aws.aurora.policies`, the execution roles' in
:meth:`infra.aws.resources.execution_roles.ExecutionRoles.role_policy`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

# -- documents ---------------------------------------------------------------------------


def service_trust_policy(service: str, conditions: Mapping | None = None) -> dict:
    """A role trust policy: ``service`` (e.g. ``rds.amazonaws.com``) may assume the role,
    only under ``conditions`` (``{operator: {key: value(s)}}``) when given."""
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if conditions:
        statement["Condition"] = {operator: dict(values) for operator, values in conditions.items()}
    return {"Version": "2012-10-17", "Statement": [statement]}


def source_conditions(
    account: str, source_arns: Iterable[str], arn_operator: str = "ArnEquals"
) -> dict:
    """Trust conditions against the confused deputy: the service may assume the role only
    on behalf of ``account`` and of exactly these resources (AWS's guidance for service
    roles: ``aws:SourceAccount`` and ``aws:SourceArn``). ``arn_operator`` ``ArnLike``
    when the ARNs are patterns (a resource whose id AWS makes on creation)."""
    return {
        "StringEquals": {"aws:SourceAccount": account},
        arn_operator: {"aws:SourceArn": sorted(set(source_arns))},
    }


def describe_conditions(conditions: Mapping | None) -> str:
    """``aws:SourceAccount = 1, aws:SourceArn = a, b`` (empty when there are none)."""
    return "; ".join(
        f"{key} = {', '.join(str(v) for v in as_list(value))}"
        for values in (conditions or {}).values()
        for key, value in values.items()
    )


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


def _canonical(value):
    """A policy value in one spelling: a one-item list and its item are the same, and
    the order of a list does not matter (IAM reads them so)."""
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = sorted(
            (_canonical(item) for item in value), key=lambda i: json.dumps(i, sort_keys=True)
        )
        return items[0] if len(items) == 1 else items
    return value


def trust_matches(current, desired) -> bool:
    """True when the trust policy says what ``desired`` says (and nothing else): the same
    statements, principals, actions and conditions, however their lists are spelled."""
    return statements_match(current, desired)


def statements_match(current, desired) -> bool:
    """True when the two documents (a trust policy, an endpoint policy; dicts or JSON
    text) hold the same statements, however their lists are spelled or ordered."""

    def normal(document):
        return sorted(json.dumps(_canonical(s), sort_keys=True) for s in statements(document))

    return normal(current) == normal(desired)


# -- evaluation --------------------------------------------------------------------------


def _wildcard(pattern: str, flags: int = 0) -> re.Pattern:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z",
        flags | re.DOTALL,
    )


def _matches(statement: Mapping, action: str, resource: str) -> bool:
    # Statements with NotAction/NotResource/Condition are not ours to judge: never match.
    if {"NotAction", "NotResource", "Condition"} & statement.keys():
        return False
    actions = as_list(statement.get("Action"))
    resources = as_list(statement.get("Resource"))
    return any(_wildcard(a, re.IGNORECASE).match(action) for a in actions) and any(
        _wildcard(r).match(resource) for r in resources
    )


def policy_allows(documents: Iterable, action: str, resource: str) -> bool:
    """True when some Allow statement covers ``action`` on ``resource`` and no Deny does.

    ``resource`` may itself be a pattern (``<arn>:*``): it is covered when a statement's
    resource matches it literally or more broadly.
    """
    found = [statement for document in documents for statement in statements(document)]
    if any(s.get("Effect") == "Deny" and _matches(s, action, resource) for s in found):
        return False
    return any(s.get("Effect") == "Allow" and _matches(s, action, resource) for s in found)
