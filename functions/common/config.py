"""Reading a function's configuration from its environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed."""


def required_setting(name: str, environ: Mapping[str, str] | None = None) -> str:
    """Return environment variable ``name``; raise a clear error when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value
