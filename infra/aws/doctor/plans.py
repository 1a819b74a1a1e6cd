"""The links a plan sees: a link is broken when its resources' plan (the difference between
what exists and what is declared) is not empty, and the fix is the command that applies
exactly those resources: ``aurora-events deploy apply --only <resource>`` for the event
path, ``aurora-events aurora apply ... --only <link>`` for Aurora's chain. The problem is
the changes that command would make, as ``plan`` prints them."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping

from infra.aws.changes import Change, PlanError
from infra.aws.doctor.diagnosis import LinkResult, broken
from infra.aws.iam_roles import ForeignResourceError


def describe_changes(changes: Iterable[Change]) -> str:
    """``<resource>: <action> (<detail>)``, one change after the other."""
    return "; ".join(
        f"{change.resource}: {change.action}" + (f" ({change.detail})" if change.detail else "")
        for change in changes
    )


def with_only(command: str, keys: Iterable[str]) -> str:
    """``command`` limited to the resources ``keys`` (``--only``, repeated)."""
    return command + "".join(f" --only {shlex.quote(key)}" for key in keys)


def plan_link(
    link: str,
    plans: Mapping[str, Callable[[], Iterable[Change]]],
    fix: Callable[[list[str]], str],
    ok: str,
    consequence: str = "",
) -> LinkResult:
    """The link as its resources' plans find it: ``plans`` maps each resource's key to its
    plan; ``fix(keys)`` is the command that applies the resources whose plan is not empty;
    ``consequence`` says what the difference does to the path. A resource of the
    deployment's name that is not the deployment's (it lacks its tags) is broken too: the
    plan refuses it, and only a person can say whose it is."""
    differing: dict[str, list[Change]] = {}
    for key, plan in plans.items():
        try:
            changes = list(plan())
        except ForeignResourceError as error:
            return broken(link, str(error), "delete it, or deploy with another prefix", "manual")
        except PlanError as error:  # a setting the plan needs is missing
            return broken(
                link,
                f"{key} cannot be planned: {error}",
                "set or create what it names (a setting, a secret), or run the doctor with "
                "the settings deploy runs with (the same --config)",
                "manual",
            )
        if changes:
            differing[key] = changes
    if not differing:
        return LinkResult(link, ok)
    problem = describe_changes(c for changes in differing.values() for c in changes)
    return broken(
        link,
        problem + (f": {consequence}" if consequence else ""),
        fix(list(differing)),
        "aurora-events",
    )
