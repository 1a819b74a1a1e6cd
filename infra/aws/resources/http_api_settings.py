"""The HTTP API's declared settings and how they compare with what API Gateway
reports: pure functions, no calls (:mod:`infra.aws.resources.http_api` plans with them)."""

from __future__ import annotations

import json
import re

from functions.common.resources import RESOURCES
from infra.catalog import Deployment, SettingError

# The catalog's function behind the API.
INGEST_FUNCTION = "ingest"
API_SERVICE = "apigateway.amazonaws.com"
INVOKE_ACTION = "lambda:InvokeFunction"
DEFAULT_STAGE = "$default"
# Every ingest resource is a POST endpoint (functions.common.resources.Resource).
ROUTE_METHOD = "POST"
PAYLOAD_FORMAT_VERSION = "2.0"
ACCESS_LOG_RETENTION_DAYS = 30
# One JSON object per request: who (ip), what (routeKey, status), how long (latency, the
# integration's own latency) and why it failed (API Gateway's error, the integration's).
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationStatus": "$context.integrationStatus",
        "integrationError": "$context.integrationErrorMessage",
        "error": "$context.error.message",
    },
    separators=(",", ":"),
)
# What a browser may send and read (CORS): the ingest function reads Idempotency-Key, and
# answers a 503 with Retry-After; an authenticated API also needs the signature's or the
# token's headers (CORS_AUTH_HEADERS).
CORS_ALLOW_HEADERS = ("content-type", "idempotency-key")
# api_auth -> the route's AuthorizationType.
API_AUTH_TYPES = {"iam": "AWS_IAM", "jwt": "JWT", "none": "NONE"}
CORS_AUTH_HEADERS = {
    "iam": ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"),
    "jwt": ("authorization",),
    "none": (),
}
# Where the JWT authorizer reads the token: "Authorization: Bearer <token>".
JWT_IDENTITY_SOURCE = "$request.header.Authorization"
CORS_EXPOSE_HEADERS = ("retry-after",)
CORS_MAX_AGE_SECONDS = 600
# API Gateway's rule for stage names, and an origin: scheme and host, no path.
_STAGE_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ORIGIN = re.compile(r"https?://[^/\s*]+|\*")
# API Gateway fetches the issuer's keys over HTTPS (<issuer>/.well-known/openid-configuration).
_ISSUER = re.compile(r"https://[^\s/]+(/\S*)?")


# -- pure helpers ------------------------------------------------------------------------


def route_keys() -> tuple[str, ...]:
    """The API's routes, one per ingest resource: ``POST /customers``, ``POST /orders``."""
    return tuple(f"{ROUTE_METHOD} {resource.path}" for resource in RESOURCES)


def stage_path(stage: str) -> str:
    """The invoke URL's path for ``stage``: ``/prod``; none for ``$default``."""
    return "" if stage == DEFAULT_STAGE else f"/{stage}"


def check_api_settings(deployment: Deployment) -> None:
    """:class:`~infra.catalog.SettingError` naming the first API setting AWS would refuse."""
    stage = deployment.api_stage
    if stage != DEFAULT_STAGE and not _STAGE_NAME.fullmatch(stage):
        raise SettingError(
            f"setting api_stage must be $default or 1 to 128 letters, digits, - or _; not {stage!r}"
        )
    for origin in deployment.api_cors_origins:
        if not _ORIGIN.fullmatch(origin):
            raise SettingError(
                "setting api_cors_origins must list origins like https://shop.example "
                f"(scheme and host, no path) or *; not {origin!r}"
            )
    check_auth_settings(deployment)


def check_auth_settings(deployment: Deployment) -> None:
    """:class:`~infra.catalog.SettingError` unless ``api_auth`` names an authorization the
    API can have: an anonymous API only with ``api_auth = "none"``, set on purpose."""
    auth = deployment.api_auth
    if auth not in API_AUTH_TYPES:
        raise SettingError(
            f"setting api_auth must be iam, jwt or none (an anonymous API, only on purpose); "
            f"not {auth!r}"
        )
    if auth != "jwt":
        return
    if not _ISSUER.fullmatch(deployment.api_jwt_issuer):
        raise SettingError(
            "setting api_jwt_issuer must be the token issuer's https:// URL (api_auth is jwt); "
            f"not {deployment.api_jwt_issuer!r}"
        )
    if not deployment.api_jwt_audience:
        raise SettingError(
            "setting api_jwt_audience must name the audience(s) a token must be for "
            "(api_auth is jwt)"
        )


def jwt_authorizer(deployment: Deployment) -> dict[str, object]:
    """The JWT authorizer's settings, in the form ``CreateAuthorizer`` takes."""
    return {
        "AuthorizerType": "JWT",
        "IdentitySource": [JWT_IDENTITY_SOURCE],
        "JwtConfiguration": {
            "Issuer": deployment.api_jwt_issuer,
            "Audience": list(deployment.api_jwt_audience),
        },
    }


def authorizer_drift(current: dict, wanted: dict) -> list[str]:
    """What differs between an authorizer as read and as wanted (audiences as a set)."""
    drift = []
    if current.get("AuthorizerType") != wanted["AuthorizerType"]:
        drift.append(f"type: {current.get('AuthorizerType')} -> {wanted['AuthorizerType']}")
    if list(current.get("IdentitySource") or []) != wanted["IdentitySource"]:
        drift.append(f"identity source: {current.get('IdentitySource')} -> {JWT_IDENTITY_SOURCE}")
    jwt = current.get("JwtConfiguration") or {}
    issuer, audience = wanted["JwtConfiguration"]["Issuer"], wanted["JwtConfiguration"]["Audience"]
    if jwt.get("Issuer") != issuer:
        drift.append(f"issuer: {jwt.get('Issuer')} -> {issuer}")
    if sorted(set(jwt.get("Audience") or [])) != sorted(set(audience)):
        drift.append(
            f"audience: {', '.join(jwt.get('Audience') or []) or 'none'} -> {', '.join(audience)}"
        )
    return drift


def cors_configuration(origins: tuple[str, ...], auth: str = "none") -> dict | None:
    """The API's CORS configuration for ``origins`` and the API's ``auth`` (its requests'
    signature or token headers); None (no CORS) without any origin."""
    if not origins:
        return None
    return {
        "AllowOrigins": list(origins),
        "AllowMethods": [ROUTE_METHOD],
        "AllowHeaders": list(CORS_ALLOW_HEADERS + CORS_AUTH_HEADERS.get(auth, ())),
        "ExposeHeaders": list(CORS_EXPOSE_HEADERS),
        "MaxAge": CORS_MAX_AGE_SECONDS,
    }


def comparable_cors(configuration: dict | None) -> dict:
    """A CORS configuration in one form: unset members left out, lists as sorted sets,
    header names lower-case (AWS may give them back in another order or case)."""
    normalized = {}
    for key, value in (configuration or {}).items():
        if value in (None, [], False, 0):
            continue
        if isinstance(value, list):
            value = sorted({item.lower() if "Headers" in key else item for item in value})
        normalized[key] = value
    return normalized


def stage_settings(
    stage: str, burst_limit: int, rate_limit: int, log_group_arn: str
) -> dict[str, object]:
    """The stage's settings, in the form ``CreateStage`` takes and ``GetStage`` returns."""
    return {
        "AutoDeploy": True,
        "DefaultRouteSettings": {
            "ThrottlingBurstLimit": burst_limit,
            "ThrottlingRateLimit": float(rate_limit),
        },
        "AccessLogSettings": {"DestinationArn": log_group_arn, "Format": ACCESS_LOG_FORMAT},
    }


def stage_drift(current: dict, wanted: dict[str, object]) -> list[str]:
    """What differs between a stage as read and as wanted, as ``member: now -> wanted``."""
    drift = []
    if current.get("AutoDeploy") is not True:
        drift.append(f"auto-deploy: {current.get('AutoDeploy')} -> True")
    route = current.get("DefaultRouteSettings") or {}
    for key, value in wanted["DefaultRouteSettings"].items():
        if route.get(key) is None or float(route[key]) != float(value):
            drift.append(f"{key}: {route.get(key)} -> {value}")
    logs = current.get("AccessLogSettings") or {}
    for key, value in wanted["AccessLogSettings"].items():
        if logs.get(key) != value:
            drift.append(f"access log {key}: {logs.get(key)} -> {value}")
    return drift


def invoke_statement(statement_id: str, alias_arn: str, source_arn: str) -> dict:
    """The alias's resource-policy statement for one route, in the form Lambda returns."""
    return {
        "Sid": statement_id,
        "Effect": "Allow",
        "Principal": {"Service": API_SERVICE},
        "Action": INVOKE_ACTION,
        "Resource": alias_arn,
        "Condition": {"ArnLike": {"AWS:SourceArn": source_arn}},
    }
