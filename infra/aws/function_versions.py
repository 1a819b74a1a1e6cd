"""Function versions and the alias ``live`` (:data:`infra.catalog.LIVE_ALIAS`).

Every caller of a function goes through its alias ``live``: Aurora's triggers
(``<prefix>-<name>:live``), the event source mapping, the schedule's rule, the relay. A
deploy that changes a function's code or configuration publishes a version (Lambda's
immutable snapshot of both) and moves the alias to it; :func:`plan_rollback` moves it
back to the version before. Nothing else points at ``$LATEST``, so an update being
applied is never half-seen by a caller, and going back is one alias update.

Which version is current is read from AWS each time: the alias says where it points, and
the versions' own configurations say what they hold (their ``CodeSha256`` and settings),
so a second deploy of the same code publishes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from infra.aws.changes import Change
from infra.catalog import LIVE_ALIAS

LATEST = "$LATEST"


class RollbackError(RuntimeError):
    """A rollback cannot be done (no previous version, no alias, no function); the
    message says which function and why."""


# -- comparing configurations (pure) -----------------------------------------------------


def configured(current: Mapping, key: str):
    """Setting ``key`` of a function configuration as Lambda returns it, in the form the
    deployment declares it (``Environment``, ``VpcConfig`` and ``Layers`` differ)."""
    if key == "Environment":
        return {"Variables": (current.get("Environment") or {}).get("Variables", {})}
    if key == "VpcConfig":
        vpc = current.get("VpcConfig") or {}
        return {
            "SubnetIds": vpc.get("SubnetIds", []),
            "SecurityGroupIds": vpc.get("SecurityGroupIds", []),
        }
    if key == "Layers":
        return [layer["Arn"] for layer in current.get("Layers") or []]
    return current.get(key)


def configuration_differences(current: Mapping, settings: Mapping) -> list[str]:
    """The declared settings whose value differs from ``current``'s, in declared order."""
    return [key for key, value in settings.items() if configured(current, key) != value]


def describe_differences(current: Mapping, settings: Mapping, keys: Iterable[str]) -> str:
    """The settings ``keys`` as they differ: ``Timeout (3 -> 30)``; the environment by
    variable (``Environment (QUEUE_URL: <now> -> <declared>)``), a secret's value being
    no more secret than the environment it is in."""

    def one(key: str) -> str:
        now, wanted = configured(current, key), settings[key]
        if key == "Environment":
            now, wanted = now["Variables"], wanted["Variables"]
            changed = sorted(k for k in {*now, *wanted} if now.get(k) != wanted.get(k))
            pairs = (f"{k}: {now.get(k, 'unset')} -> {wanted.get(k, 'unset')}" for k in changed)
            return f"{key} ({', '.join(pairs)})"
        return f"{key} ({now} -> {wanted})"

    return ", ".join(one(key) for key in keys)


def holds(configuration: Mapping, code_sha256: str | None, settings: Mapping) -> bool:
    """Whether a function (or version) configuration holds this code (None: any code) and
    these settings."""
    code = code_sha256 is None or configuration.get("CodeSha256") == code_sha256
    return code and not configuration_differences(configuration, settings)


def previous_version(versions: Iterable[str], current: str) -> str | None:
    """The highest published version below ``current`` (``$LATEST`` is not one)."""
    numbers = [int(v) for v in versions if v.isdigit() and int(v) < int(current)]
    return str(max(numbers)) if numbers else None


def alias_arn(function_arn: str) -> str:
    """The ARN of the function's alias ``live``."""
    return f"{function_arn}:{LIVE_ALIAS}"


# -- reading -----------------------------------------------------------------------------


def live_version(lambda_, name: str) -> str | None:
    """The version alias ``live`` points at; None when there is no such alias."""
    try:
        return lambda_.get_alias(FunctionName=name, Name=LIVE_ALIAS)["FunctionVersion"]
    except lambda_.exceptions.ResourceNotFoundException:
        return None


def published_versions(lambda_, name: str) -> list[dict]:
    """The function's published versions' configurations, oldest first (every page)."""
    versions = [
        configuration
        for page in lambda_.get_paginator("list_versions_by_function").paginate(FunctionName=name)
        for configuration in page["Versions"]
        if configuration["Version"] != LATEST
    ]
    return sorted(versions, key=lambda configuration: int(configuration["Version"]))


def wait_until_updated(lambda_, name: str) -> None:
    """Wait until the function can take the next change: Lambda refuses an update or a
    publish while the previous update is still being applied."""
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=name)


# -- changing ----------------------------------------------------------------------------


def point_alias(lambda_, name: str, version: str) -> None:
    """Point alias ``live`` at ``version``, creating the alias when it does not exist."""
    try:
        lambda_.update_alias(FunctionName=name, Name=LIVE_ALIAS, FunctionVersion=version)
    except lambda_.exceptions.ResourceNotFoundException:
        lambda_.create_alias(FunctionName=name, Name=LIVE_ALIAS, FunctionVersion=version)


def publish_and_point(lambda_, name: str, code_sha256: str | None) -> str:
    """Publish ``$LATEST`` as a version (only if it still holds ``code_sha256``: a change
    made meanwhile is not published by mistake) and point ``live`` at it; its number.
    Lambda publishes nothing new when ``$LATEST`` has not changed since the last version:
    it answers that version."""
    wait_until_updated(lambda_, name)
    code = {"CodeSha256": code_sha256} if code_sha256 else {}
    version = lambda_.publish_version(FunctionName=name, **code)["Version"]
    point_alias(lambda_, name, version)
    return version


def plan_live_alias(
    lambda_,
    name: str,
    code_sha256: str | None,
    settings: Mapping,
    *,
    exists: bool,
    changing: bool,
) -> Iterator[Change]:
    """What makes alias ``live`` point at a version holding this code (None: whichever
    code it holds, when only the configuration is compared) and these settings.

    ``exists``: the function exists now; ``changing``: the plan updates its code or
    configuration first (then a version must be published). Otherwise the alias is left
    where it is when its version holds what is declared; else it moves to the newest
    version that does (after a rollback, say), or a version is published.
    """
    resource = f"lambda function {name} alias {LIVE_ALIAS}"

    def publish() -> str:
        return publish_and_point(lambda_, name, code_sha256)

    if not exists:
        yield Change(resource, "publish", "version 1, and the alias pointing at it", run=publish)
        return
    live = live_version(lambda_, name)
    if changing:
        moved = f"{live} -> the new version" if live else "create it, at the new version"
        yield Change(resource, "publish", f"a version of the changes above; {moved}", run=publish)
        return
    versions = published_versions(lambda_, name)
    by_number = {configuration["Version"]: configuration for configuration in versions}
    if live is not None and live in by_number and holds(by_number[live], code_sha256, settings):
        return
    matching = [v["Version"] for v in versions if holds(v, code_sha256, settings)]
    declared = "settings" if code_sha256 is None else "code and settings"
    if matching:
        target = matching[-1]
        yield Change(
            resource,
            "move" if live else "create",
            f"version {live} -> {target} (it holds the declared {declared})"
            if live
            else f"at version {target} (it holds the declared {declared})",
            run=lambda: point_alias(lambda_, name, target),
        )
        return
    yield Change(
        resource,
        "publish",
        f"a version of the current code; {live} -> it" if live else "a version, and the alias",
        run=publish,
    )


# -- rollback ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollback:
    """Alias ``live`` of ``function`` moves from version ``current`` to ``previous``."""

    function: str
    current: str
    previous: str


def rollback_of(lambda_, name: str) -> Rollback:
    """Where ``name``'s alias would go back to; :class:`RollbackError` when nowhere."""
    try:
        lambda_.get_function(FunctionName=name)
    except lambda_.exceptions.ResourceNotFoundException:
        raise RollbackError(f"function {name} is not deployed") from None
    live = live_version(lambda_, name)
    if live is None:
        raise RollbackError(
            f"function {name} has no alias {LIVE_ALIAS}: nothing to roll back "
            "(deploy apply creates it)"
        )
    previous = previous_version((v["Version"] for v in published_versions(lambda_, name)), live)
    if previous is None:
        raise RollbackError(
            f"function {name}: alias {LIVE_ALIAS} is at version {live}, and there is no "
            "earlier version to roll back to"
        )
    return Rollback(name, live, previous)


def plan_rollback(lambda_, names: Iterable[str]) -> list[Change]:
    """Move each function's alias ``live`` back one version. Every function is checked
    before anything moves: one that cannot go back stops them all, with its reason."""
    rollbacks = [rollback_of(lambda_, name) for name in names]
    return [
        Change(
            f"lambda function {r.function} alias {LIVE_ALIAS}",
            "rollback",
            f"version {r.current} -> {r.previous}",
            run=lambda r=r: lambda_.update_alias(
                FunctionName=r.function, Name=LIVE_ALIAS, FunctionVersion=r.previous
            ),
        )
        for r in rollbacks
    ]
