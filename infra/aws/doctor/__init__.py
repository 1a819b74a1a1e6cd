"""The doctor: which link of the whole path is broken, and the command that fixes it.

The walk is :mod:`infra.aws.doctor.walk`; the links are checked in :mod:`~.api`,
:mod:`~.path`, :mod:`~.drain` (the ingest path), :mod:`~.walk` (Aurora's access chain),
:mod:`~.triggers`, :mod:`~.network`; the result and its rendering are
:mod:`~.diagnosis`, the fixes' commands :mod:`~.fixes`. What the CLI and the demo use is
exported here.
"""

from infra.aws.doctor.walk import (
    PROBE_PAYLOAD,
    Diagnosis,
    Finding,
    LinkResult,
    PathCheck,
    ProbeResult,
    RelayCheck,
    apply_command,
    compact_json,
    diagnose,
    render_diagnosis,
    uncovered_resources,
)

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
