"""The doctor: which link of the whole path is broken, and the command that fixes it.

The walk is :mod:`infra.aws.doctor.walk`; the links are checked in :mod:`~.api`,
:mod:`~.path`, :mod:`~.drain` (the ingest path), :mod:`~.chain` (Aurora's access chain),
:mod:`~.triggers`, :mod:`~.network`. The links a plan sees read it (:mod:`~.plans`:
broken when a resource's plan is not empty, fixed by applying it); the result and its
rendering are :mod:`~.diagnosis`, the fixes' commands :mod:`~.fixes`. What the CLI, the
demo and the tests use is exported here.
"""

from infra.aws.doctor.chain import RelayCheck
from infra.aws.doctor.diagnosis import (
    PROBE_PAYLOAD,
    Diagnosis,
    Finding,
    LinkResult,
    ProbeResult,
    compact_json,
    render_diagnosis,
)
from infra.aws.doctor.fixes import apply_command
from infra.aws.doctor.path import PathCheck
from infra.aws.doctor.walk import diagnose
from infra.aws.function_state import uncovered_resources

__all__ = [
    "PROBE_PAYLOAD",
    "Diagnosis",
    "Finding",
    "LinkResult",
    "PathCheck",
    "ProbeResult",
    "RelayCheck",
    "apply_command",
    "compact_json",
    "diagnose",
    "render_diagnosis",
    "uncovered_resources",
]
