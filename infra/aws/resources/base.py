"""The resource protocol: one class per kind of AWS resource, in the manner of Alembic's
autogenerate (one comparator per kind of object).

A resource answers four questions: what is desired (from the catalog and the settings),
what exists (read), the difference between the two as :class:`~infra.aws.changes.Change`
objects (``plan``), and how to remove what the deployment made (``plan_destroy``). The
changes are carried out by :func:`~infra.aws.changes.apply_changes`, the one executor.

:func:`converge` is the shape most comparisons share: create what is missing, refuse what
exists without the deployment's tags, update what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar, Protocol, TypeVar

from infra.aws.changes import Change
from infra.aws.iam_roles import ForeignResourceError

T = TypeVar("T")


class Resource(Protocol):
    """One kind of AWS resource of one deployment.

    ``key`` names it in the declared order and on the command line
    (``aurora-events deploy apply --only <key>``)."""

    key: ClassVar[str]

    def plan(self) -> Iterable[Change]:
        """The difference between what exists and what is desired, as changes (none when
        they agree; a second apply therefore finds nothing to do)."""
        ...

    def plan_destroy(self) -> Iterable[Change]:
        """The changes that delete what carries the deployment's tags, and nothing else."""
        ...


def not_ours_message(resource: str) -> str:
    """Why a resource of the deployment's name is not rewritten."""
    return (
        f"{resource} exists but does not carry this deployment's tags; it may belong to "
        "something else. Delete it or choose another prefix"
    )


def converge(
    resource: str,
    current: T | None,
    *,
    create: Callable[[], Iterable[Change]],
    drift: Callable[[T], list[str]],
    update: Callable[[T], Callable[[], object]],
    ours: Callable[[T], bool] | None = None,
    foreign: type[Exception] = ForeignResourceError,
    identify: Callable[[T], str] | None = None,
) -> Iterator[Change]:
    """The changes that bring one resource to its declaration.

    ``current`` is what a read found (None: missing, then ``create()`` gives the changes
    that make it). One that exists must be ``ours`` (when given) or ``foreign`` is raised;
    when ``drift(current)`` lists differences (``"<field>: <now> -> <wanted>"``), one
    update change whose ``run`` is ``update(current)`` carries them out. ``identify`` adds
    what names the found one (an id, where it is) to the refusal."""
    if current is None:
        yield from create()
        return
    if ours is not None and not ours(current):
        found = f" ({identify(current)})" if identify else ""
        raise foreign(not_ours_message(resource + found))
    differences = drift(current)
    if differences:
        yield Change(resource, "update", "; ".join(differences), run=update(current))


class AwsResource:
    """A resource of one deployment, planned with the shared :class:`Context` (names, ARNs,
    boto3 clients, settings) of the plan it is part of."""

    key: ClassVar[str]

    def __init__(self, context) -> None:
        self.context = context

    @property
    def deployment(self):
        return self.context.deployment

    @property
    def target(self):
        return self.context.target

    @property
    def tags(self) -> dict[str, str]:
        return self.context.tags

    def plan(self) -> Iterable[Change]:
        return []

    def plan_destroy(self) -> Iterable[Change]:
        return []
