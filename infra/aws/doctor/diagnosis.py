"""What the doctor reports, and how: one result a link (``ok`` or ``BROKEN``, what was
found, lines under it), then the fix of the first broken link and the probe's answer.

Every link module (:mod:`infra.aws.doctor.path`, :mod:`infra.aws.doctor.drain`,
:mod:`infra.aws.doctor.triggers`, :mod:`infra.aws.doctor`) returns these; the walk in
:func:`infra.aws.doctor.diagnose` collects them.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from functions.common.ping import PING_PAYLOAD

PROBE_PAYLOAD = PING_PAYLOAD  # '{"ping": 1}': the functions answer it with a pong


@dataclass(frozen=True)
class Finding:
    """A broken link: what is wrong, and the command that fixes it."""

    link: str
    problem: str
    fix: str  # one command (or SQL statement) a line
    fix_kind: str  # "aurora-events", "aws", "sql" or "manual"


@dataclass(frozen=True)
class LinkResult:
    link: str
    detail: str  # what was found
    finding: Finding | None = None
    # Lines shown under the link: what it covered (each trigger), or what it did not
    # check and why ("not checked: proxy (rds_proxy is off)").
    items: tuple[str, ...] = ()
    # Something that does not break the path but wants a look (messages in the DLQ).
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.finding is None


@dataclass(frozen=True)
class ProbeResult:
    function: str
    result: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def pong(self) -> bool:
        """The function answered the ping as a ping (one of this project's functions)."""
        try:
            return json.loads(self.result or "null").get("status") == "pong"
        except (ValueError, AttributeError):
            return False


@dataclass
class Diagnosis:
    links: list[LinkResult] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)  # after the broken link
    # Links left out on purpose, and why (a stand-in serves that part locally).
    skipped: dict[str, str] = field(default_factory=dict)
    network_checked: bool = True
    relay_checked: bool = False
    probe: ProbeResult | None = None

    @property
    def finding(self) -> Finding | None:
        return next((r.finding for r in self.links if r.finding), None)

    @property
    def ok(self) -> bool:
        return self.finding is None and (self.probe is None or self.probe.ok)


def broken(link: str, problem: str, fix: str, fix_kind: str, **extra) -> LinkResult:
    """A broken link's result: ``problem`` is also what the link line says."""
    return LinkResult(link, problem, Finding(link, problem, fix, fix_kind), **extra)


def broken_sql(link: str, problem: str, statements: list[str]) -> LinkResult:
    """A broken link whose fix is SQL: ``statements``, each ended with ``;``."""
    return broken(link, problem, "\n".join(f"{s};" for s in statements), "sql")


def aws_command(service: str, operation: str, *options: str) -> str:
    """An ``aws`` CLI line, quoted for a POSIX shell."""
    return shlex.join(["aws", service, operation, *options])


def compact_json(document) -> str:
    return json.dumps(document, separators=(",", ":"))


def render_diagnosis(diagnosis: Diagnosis) -> str:
    """The diagnosis as text: one line a link (and the lines under it), then the fix of
    the first broken one, then the probe."""
    lines = []
    for result in diagnosis.links:
        lines.append(f"{'ok' if result.ok else 'BROKEN':7} {result.link:12} {result.detail}")
        lines.extend(f"{'':20} {item}" for item in result.items)
        if result.warning:
            lines.append(f"{'':20} warning: {result.warning}")
    for link, why in diagnosis.skipped.items():
        lines.append(f"not checked: {link} ({why})")
    if diagnosis.not_checked:
        lines.append(f"not checked (after the broken link): {', '.join(diagnosis.not_checked)}")
    if not diagnosis.network_checked:
        lines.append("network not checked: AWS_ENDPOINT_URL points at a local endpoint")
    finding = diagnosis.finding
    if finding:
        lines.append("")
        lines.append(f"fix ({finding.fix_kind}):")
        lines.extend(f"  {line}" for line in finding.fix.splitlines())
    if diagnosis.probe:
        call = f"lambda_sync({diagnosis.probe.function!r}, {PROBE_PAYLOAD!r})"
        if not diagnosis.probe.ok:
            outcome = f"failed: {diagnosis.probe.error}"
        elif diagnosis.probe.pong:
            outcome = f"-> {diagnosis.probe.result}"
        else:  # the call worked; the function is not one that knows the probe
            outcome = f"-> {diagnosis.probe.result} (not a pong: not this project's function?)"
        lines.append(f"probe: SELECT {call} {outcome}")
    if diagnosis.ok:
        lines.append("every link checked is in place")
    return "\n".join(lines)
