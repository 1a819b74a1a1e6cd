"""The project's version: ``version`` in pyproject.toml, the one place it is written.

In a checkout it is read from that file (so a bump shows before reinstalling); installed
from a wheel, from the distribution's metadata, which the build copied from it.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "aurora-events"
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def version() -> str:
    """The version of this copy of aurora-events (``"unknown"`` when it has none)."""
    if _PYPROJECT.is_file():
        project = tomllib.loads(_PYPROJECT.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == DISTRIBUTION:
            return project["version"]
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
