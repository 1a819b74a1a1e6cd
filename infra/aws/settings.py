"""Deployment settings from a config file, the environment and the command line, built
once (by ``aurora-events``'s ``main``) into one :class:`Settings` that the commands get.

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
    database_tls = true                 # the drain and the relay require TLS
    database_tls_ca = "global-bundle.pem"  # the RDS bundle, shipped in the layer
    subnet_ids = ["subnet-aaa", "subnet-bbb"]
    security_group_ids = ["sg-ccc"]
    api_stage = "prod"                  # the HTTP API's stage
    api_burst_limit = 100
    api_rate_limit = 50
    api_cors_origins = ["https://shop.example"]
    api_auth = "iam"                    # who may call the API: iam, jwt (api_jwt_issuer,
                                        # api_jwt_audience) or "none" (anonymous, on purpose)
    rds_proxy = true                    # the drain connects through an RDS Proxy
    vpc_endpoints = true                # Secrets Manager and Lambda endpoints in the subnets
    alarm_email = "oncall@shop.example"
    runbook_url = "https://docs.shop.example/runbooks/"  # where the alarms' runbooks are
    relay_reserved_concurrency = 2      # outbox relays at once (0: no reservation)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from infra.catalog import DEPLOYMENT_VARIABLES, Deployment, variable_values

# Every setting and its environment variables: boto3's own for the region and profile,
# the deployment's (from the catalog) for the rest.
ENVIRONMENT_NAMES: dict[str, tuple[str, ...]] = {
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "profile": ("AWS_PROFILE",),
    **DEPLOYMENT_VARIABLES,
}
# boto3 sends every call there when set (moto locally); read to know where calls go.
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"


class SettingsError(ValueError):
    """The config file cannot be used; the message says why."""


@dataclass(frozen=True)
class Settings:
    """Everything the commands are configured with."""

    deployment: Deployment = field(default_factory=Deployment)
    region: str | None = None
    profile: str | None = None
    # Where boto3 sends the calls when not AWS (a local emulator); None on AWS.
    endpoint_url: str | None = None

    def configure_boto3(self) -> None:
        """Make the region and profile boto3's defaults (its chain does the rest)."""
        boto3.setup_default_session(region_name=self.region, profile_name=self.profile)


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
        elif isinstance(value, bool):  # before int: a bool is an int
            settings[key] = "true" if value else "false"
        elif isinstance(value, (str, int)):
            settings[key] = str(value)
        else:
            raise SettingsError(
                f"config file {path}: {key} must be a string, a number, true/false "
                "or a list of strings"
            )
    return settings


def resolve_settings(
    config: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
    options: Mapping[str, str | None] | None = None,
) -> Settings:
    """The settings: ``options`` (the command line) over ``environ`` over ``config``."""
    environ = os.environ if environ is None else environ
    values = {
        **config,
        **variable_values(ENVIRONMENT_NAMES, environ),
        **{key: value for key, value in (options or {}).items() if value},
    }
    return Settings(
        deployment=Deployment.from_values(values),
        region=values.get("region") or None,
        profile=values.get("profile") or None,
        endpoint_url=environ.get(ENDPOINT_VARIABLE) or None,
    )


def current_region() -> str | None:
    """The region boto3 uses: the configured default session's, else its chain's."""
    return (boto3.DEFAULT_SESSION or boto3.session.Session()).region_name
