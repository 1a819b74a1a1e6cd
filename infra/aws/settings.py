"""Deployment settings from a config file, the environment and the command line.

A config file (TOML) names the same settings as the environment variables, so each
setting has one meaning wherever it is given. Command-line options win over environment
variables, which win over the file. Credentials never come from here: only from boto3's
standard chain (a profile names which of its entries to use).

    # deploy.toml
    region = "ap-northeast-2"
    profile = "prod"
    prefix = "shop-events"
    cluster = "shop-aurora"
    email_from = "alerts@shop.example"
    email_to = "team@shop.example"
    database_secret_id = "shop/aurora/app"
    database_host = "shop-proxy.proxy-xxxx.ap-northeast-2.rds.amazonaws.com"  # optional
    subnet_ids = ["subnet-aaa", "subnet-bbb"]
    security_group_ids = ["sg-ccc"]
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import MutableMapping
from pathlib import Path

ENVIRONMENT_NAMES = {
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "profile": ("AWS_PROFILE",),
    "prefix": ("AURORA_EVENTS_PREFIX",),
    "cluster": ("AURORA_EVENTS_CLUSTER",),
    "email_from": ("AURORA_EVENTS_EMAIL_FROM",),
    "email_to": ("AURORA_EVENTS_EMAIL_TO",),
    "database_secret_id": ("AURORA_EVENTS_DATABASE_SECRET_ID",),
    "database_host": ("AURORA_EVENTS_DATABASE_HOST",),
    "subnet_ids": ("AURORA_EVENTS_SUBNET_IDS",),
    "security_group_ids": ("AURORA_EVENTS_SECURITY_GROUP_IDS",),
}


class SettingsError(ValueError):
    """The config file cannot be used; the message says why."""


def load_config(path: Path) -> dict[str, str]:
    """Read a TOML config file into ``{setting: text}`` (lists joined with commas)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {path} is not valid TOML: {error}") from None
    unknown = sorted(set(data) - set(ENVIRONMENT_NAMES))
    if unknown:
        raise SettingsError(
            f"config file {path}: unknown setting(s) {', '.join(unknown)} "
            f"(known: {', '.join(ENVIRONMENT_NAMES)})"
        )
    settings = {}
    for key, value in data.items():
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            settings[key] = ",".join(value)
        elif isinstance(value, str):
            settings[key] = value
        else:
            raise SettingsError(f"config file {path}: {key} must be a string or a list of strings")
    return settings


def apply_settings(
    config: dict[str, str],
    overrides: dict[str, str | None],
    environ: MutableMapping[str, str] | None = None,
) -> None:
    """Put settings into the environment: overrides always, the file's where none is set."""
    environ = os.environ if environ is None else environ
    for key, value in config.items():
        for name in ENVIRONMENT_NAMES[key]:
            environ.setdefault(name, value)
    for key, value in overrides.items():
        if value:
            for name in ENVIRONMENT_NAMES[key]:
                environ[name] = value
