"""Lambda handler: the outbox relay. Runs on the outbox trigger's doorbell (a
``lambda_async`` with ``{"doorbell": <database>}``) and on a schedule (the backstop);
delivers due outbox rows to their target functions in batches (see
:mod:`functions.relay.runs` and :mod:`functions.common.event_batches`).

Settings (environment): ``DATABASE_URL`` or ``DATABASE_SECRET_ID`` (the database whose
outbox it serves; ``DATABASE_TLS`` / ``DATABASE_TLS_CA`` as every connection reads them,
:mod:`functions.common.database`) and the fields of
:class:`~functions.relay.delivery.RelaySettings` as ``RELAY_<FIELD>`` (e.g.
``RELAY_MAX_ATTEMPTS``; ``RELAY_TARGET_LIMITS``, each target's batch limits, is written by
the catalog: :mod:`functions.relay.target_limits`);
``AURORA_EVENTS_PREFIX``, the deployment whose metrics it reports
(:mod:`functions.relay.metrics`) and whose functions' limits it applies.

After each run it reads the outbox's waiting and parked events once and prints them as
CloudWatch metrics (EMF): the alarm on parked events watches them.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields

import boto3
from aws_lambda_powertools import Logger, Metrics
from botocore.config import Config

from functions.common.config import ConfigurationError
from functions.common.database import ReusableConnection
from functions.common.event_batches import batch_request
from functions.common.ping import is_ping, pong
from functions.relay.delivery import RelaySettings
from functions.relay.metrics import (
    NAMESPACE,
    SERVICE_DIMENSION,
    add_outbox_metrics,
    service_name,
)
from functions.relay.outbox import OutboxStore
from functions.relay.runs import run_relay
from functions.relay.target_limits import limits_from_env

logger = Logger(service="relay")
metrics = Metrics(namespace=NAMESPACE)
database = ReusableConnection(autocommit=True, read_timeout=60, write_timeout=60)


class TargetFailed(RuntimeError):
    """The target function raised (Lambda's ``FunctionError``)."""


def settings_from_env(environ=None) -> RelaySettings:
    """:class:`RelaySettings` with ``RELAY_<FIELD>`` overrides; a clear error for a bad one."""
    environ = os.environ if environ is None else environ
    values = {"target_limits": limits_from_env(environ)}  # JSON, read there
    for setting in fields(RelaySettings):
        name = "RELAY_" + setting.name.upper()
        if setting.name not in values and environ.get(name):
            # The declared type, not the default's: a float setting may default to 5.
            kind = {"int": int, "float": float}.get(str(setting.type), type(setting.default))
            try:
                values[setting.name] = kind(environ[name])
            except ValueError:
                raise ConfigurationError(
                    f"{name} must be a {kind.__name__}, got {environ[name]!r}"
                ) from None
    return RelaySettings(**values)


def invoke_target(target: str, events: list[dict]) -> object:
    """Invoke ``target`` synchronously with the batch; its answer, or :class:`TargetFailed`."""
    response = lambda_client.invoke(
        FunctionName=target,
        InvocationType="RequestResponse",
        Payload=json.dumps(batch_request(events), ensure_ascii=False).encode("utf-8"),
    )
    answer = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        raise TargetFailed(f"{response['FunctionError']}: {json.dumps(answer)[:500]}")
    return answer


SETTINGS = settings_from_env()


def target_client_config(settings: RelaySettings) -> Config:
    """The Lambda client's waits: each within the settings (whose sum the relay keeps
    inside the rows' lease), and one attempt in all. botocore retries a read that timed
    out, which would send the same events again while the relay counts one call (its
    ``max_attempts`` counts retries: 1 meant a second send); a failed call is the relay's
    to retry, after its backoff."""
    return Config(
        connect_timeout=settings.target_connect_timeout_seconds,
        read_timeout=settings.target_timeout_seconds,
        retries={"total_max_attempts": 1},
    )


lambda_client = boto3.client("lambda", config=target_client_config(SETTINGS))


_skip_locked: bool | None = None  # the server's, asked once per container


def store() -> OutboxStore:
    """The outbox on this container's connection."""
    global _skip_locked
    outbox = OutboxStore(database.get(), _skip_locked)
    _skip_locked = outbox.skip_locked
    return outbox


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, context):
    if is_ping(event):  # the doctor's probe: answer it, claim nothing
        logger.info("ping answered")
        return pong(context)
    rang = isinstance(event, dict) and "doorbell" in event
    outbox = store()
    summary = run_relay(
        outbox,
        invoke_target,
        SETTINGS,
        linger_seconds=SETTINGS.linger_seconds if rang else 0,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    logger.info("relay run", extra={"doorbell": rang, **summary.as_dict()})
    # The service dimension is set each run, before Powertools would add its own from
    # POWERTOOLS_SERVICE_NAME: the alarm matches it exactly.
    metrics.add_dimension(name=SERVICE_DIMENSION, value=service_name(os.environ))
    add_outbox_metrics(metrics, outbox.pending_status())
    return summary.as_dict()
