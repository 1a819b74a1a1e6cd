"""Plans: what a converge would change, as a list of :class:`Change` that can be printed
(``plan``) or carried out (``apply``). Every provisioning module builds its plan by reading
the current state and comparing it with the desired one, so a second ``apply`` finds
nothing to do, and a ``plan`` after a manual change shows exactly that drift."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Change:
    """One change to one resource. ``run`` does it; the rest describes it."""

    resource: str  # kind and name, e.g. "iam role aurora-events-aurora-lambda"
    action: str  # "create", "update", "delete", "associate", "set", ...
    detail: str = ""
    run: Callable[[], object] = field(default=lambda: None, compare=False, repr=False)

    def describe(self) -> str:
        return f"{self.action:10} {self.resource}" + (f": {self.detail}" if self.detail else "")


def describe_plan(changes: Iterable[Change]) -> str:
    """The plan as text; says so when there is nothing to do."""
    lines = [change.describe() for change in changes]
    return "\n".join(lines) if lines else "no changes: everything is as declared"


def apply_changes(changes: Iterable[Change]) -> list[Change]:
    """Carry out ``changes`` in order; return them."""
    done = []
    for change in changes:
        change.run()
        done.append(change)
    return done
