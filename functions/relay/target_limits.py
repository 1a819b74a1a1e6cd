"""Each target's batch limits: how many events, and how many bytes of them, one invocation
of a target function carries (pure functions).

The catalog declares them per outbox target (``infra/catalog.py``: chosen from the
function's timeout and what one event costs it) and hands them to the relay in one
environment variable, :data:`VARIABLE`, JSON keyed by catalog name::

    RELAY_TARGET_LIMITS={"email": {"bytes": 5000000, "events": 200}, "notify": {...}}

A target ARN ``arn:aws:lambda:<region>:<account>:function:<prefix>-<name>[:<qualifier>]``
is the catalog's ``<name>`` when ``<prefix>`` is the relay's deployment prefix
(``AURORA_EVENTS_PREFIX``); any other target (an ARN given by an override) gets the
relay's own ``events_per_invocation`` and ``bytes_per_invocation``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from functions.common.config import ConfigurationError
from functions.relay.metrics import DEFAULT_PREFIX, service_name

VARIABLE = "RELAY_TARGET_LIMITS"
# A synchronous invocation's request is at most 6 MB; the batch's wrapping
# (``{"events": [...]}``) takes a little of it.
MAX_BATCH_BYTES = 6_000_000

_FUNCTION_ARN = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:(?P<function>[A-Za-z0-9_-]{1,64})"
    r"(:[A-Za-z0-9_$-]{1,128})?"
)


@dataclass(frozen=True)
class BatchLimits:
    """At most ``events`` events, and ``bytes`` bytes of payload, per invocation."""

    events: int
    bytes: int


@dataclass(frozen=True)
class TargetLimits:
    """The declared limits by catalog name, and the prefix that turns an ARN into one."""

    prefix: str = DEFAULT_PREFIX
    by_name: Mapping[str, BatchLimits] = field(default_factory=dict, hash=False)

    def for_target(self, target: str, default: BatchLimits) -> BatchLimits:
        """The limits of the function ``target`` (an ARN); ``default`` for one the
        catalog does not declare."""
        name = catalog_name(target, self.prefix)
        return self.by_name.get(name, default) if name else default


def catalog_name(target: str, prefix: str) -> str | None:
    """``email`` for ``arn:aws:lambda:…:function:<prefix>-email[:live]``; None for a
    function of another deployment or outside the catalog's naming."""
    match = _FUNCTION_ARN.fullmatch(target)
    head = prefix + "-"
    if not match or not match["function"].startswith(head):
        return None
    return match["function"][len(head) :]


def encode_limits(limits: Mapping[str, BatchLimits]) -> str:
    """The value of :data:`VARIABLE` (the catalog writes it; stable, so a redeploy with
    the same limits changes nothing)."""
    return json.dumps(
        {name: {"events": each.events, "bytes": each.bytes} for name, each in limits.items()},
        sort_keys=True,
        separators=(",", ":"),
    )


def parse_limits(text: str) -> dict[str, BatchLimits]:
    """:data:`VARIABLE`'s value read back; a :class:`ConfigurationError` naming what is
    wrong with it (the relay refuses to start rather than send batches a target cannot
    finish)."""
    try:
        decoded = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(f"{VARIABLE} is not JSON ({error}): {text[:200]!r}") from None
    if not isinstance(decoded, dict):
        raise ConfigurationError(
            f'{VARIABLE} must be a JSON object {{"<function>": {{"events": N, "bytes": N}}}}, '
            f"got {text[:200]!r}"
        )
    return {name: _limits(name, value) for name, value in decoded.items()}


def limits_from_env(environ: Mapping[str, str]) -> TargetLimits:
    """The relay's :class:`TargetLimits`: :data:`VARIABLE` (none declared when unset) and
    the deployment prefix."""
    text = (environ.get(VARIABLE) or "").strip()
    return TargetLimits(service_name(environ), parse_limits(text) if text else {})


def _limits(name: str, value) -> BatchLimits:
    where = f"{VARIABLE}[{name!r}]"
    if not isinstance(value, dict) or set(value) != {"events", "bytes"}:
        raise ConfigurationError(
            f'{where} must be {{"events": N, "bytes": N}}, got {json.dumps(value)[:200]}'
        )
    for key, number in value.items():
        # bool is an int to Python, never a count here.
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ConfigurationError(
                f"{where}[{key!r}] must be a whole number above 0, got {json.dumps(number)}"
            )
    if value["bytes"] > MAX_BATCH_BYTES:
        raise ConfigurationError(
            f"{where}['bytes'] is {value['bytes']}: over {MAX_BATCH_BYTES}, which a "
            "synchronous invocation (6 MB) cannot carry"
        )
    return BatchLimits(events=value["events"], bytes=value["bytes"])
