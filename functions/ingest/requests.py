"""From an API Gateway event to a queue message, and back to an HTTP answer (pure functions).

Accepts both proxy event shapes: REST API (payload 1.0: ``httpMethod``, ``path``) and
HTTP API (payload 2.0: ``requestContext.http.method``, ``rawPath``).

Idempotency contract: the row's identity is its idempotency key. A client sends it in the
``Idempotency-Key`` header (1 to 128 visible ASCII characters); without one, the key is
``sha256:`` + the SHA-256 of ``<METHOD> <path>\\n`` + the body's canonical JSON (keys
sorted, no spaces, UTF-8), so a resubmitted identical request has the same key. The SQS
deduplication id is the SHA-256 of ``<resource>:<key>``. The first request with a key
makes the row; every later one with that key is a no-op, whatever its body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.common.resources import (
    InvalidRequest,
    Resource,
    message_group_id,
    resource_for_path,
    validate_body,
)

MESSAGE_VERSION = 1
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    request_id: str


@dataclass(frozen=True)
class QueueMessage:
    body: str
    group_id: str
    deduplication_id: str
    idempotency_key: str
    resource: str


class RequestError(Exception):
    """An answer other than 202: status, error code and a message for the client."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.error, self.field = status, error, field


def parse_api_event(event: dict) -> ApiRequest:
    """Read method, path, headers, body and request id from a v1 or v2 proxy event."""
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0":
        method = (context.get("http") or {}).get("method", "")
        path = event.get("rawPath", "")
    else:
        method = event.get("httpMethod", "")
        path = event.get("path", "")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    return ApiRequest(method.upper(), path, headers, body, context.get("requestId", ""))


def idempotency_key(request: ApiRequest, parsed_body: Any) -> str:
    """The client's ``Idempotency-Key``, or the documented hash of the request."""
    given = request.headers.get("idempotency-key")
    if given is not None:
        if not _IDEMPOTENCY_KEY.match(given):
            raise RequestError(
                400,
                "invalid_request",
                "header Idempotency-Key must be 1 to 128 visible ASCII characters",
                "Idempotency-Key",
            )
        return given
    canonical = json.dumps(parsed_body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()
    return "sha256:" + digest


def build_message(
    request: ApiRequest, max_message_bytes: int, now: datetime | None = None
) -> QueueMessage:
    """Validate the request and build its queue message; :class:`RequestError` otherwise."""
    resource = resource_for_path(request.path)
    if resource is None:
        raise RequestError(404, "not_found", f"no resource at {request.path!r}")
    if request.method != "POST":
        raise RequestError(405, "method_not_allowed", f"{request.path} accepts POST only")
    if len(request.body) > max_message_bytes:
        raise RequestError(
            413,
            "payload_too_large",
            f"body is {len(request.body)} bytes; the limit is {max_message_bytes} bytes",
        )
    try:
        parsed = json.loads(request.body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, "invalid_request", "body is not UTF-8") from None
    except ValueError as error:
        raise RequestError(400, "invalid_request", f"body is not valid JSON: {error}") from None
    try:
        values = validate_body(resource, parsed)
    except InvalidRequest as invalid:
        raise RequestError(400, "invalid_request", str(invalid), invalid.field) from None
    key = idempotency_key(request, parsed)
    body = message_body(resource, key, request.request_id, values, now)
    if len(body.encode("utf-8")) > max_message_bytes:
        raise RequestError(
            413,
            "payload_too_large",
            f"the queued message would be {len(body.encode())} bytes; the limit is "
            f"{max_message_bytes} bytes",
        )
    return QueueMessage(
        body=body,
        group_id=message_group_id(resource, values),
        deduplication_id=hashlib.sha256(f"{resource.name}:{key}".encode()).hexdigest(),
        idempotency_key=key,
        resource=resource.name,
    )


def message_body(
    resource: Resource, key: str, request_id: str, values: dict, now: datetime | None = None
) -> str:
    """The queue message: what the drain needs to write the row."""
    received = (now or datetime.now(UTC)).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return json.dumps(
        {
            "version": MESSAGE_VERSION,
            "resource": resource.name,
            "idempotency_key": key,
            "request_id": request_id,
            "received_at": received,
            "data": values,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def response(status: int, body: dict, headers: dict | None = None) -> dict:
    """A proxy-integration response (valid for both payload versions)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, ensure_ascii=False),
    }


def accepted(message: QueueMessage, message_id: str) -> dict:
    return response(
        202,
        {
            "status": "accepted",
            "resource": message.resource,
            "idempotency_key": message.idempotency_key,
            "message_id": message_id,
        },
    )


def rejected(error: RequestError) -> dict:
    body = {"error": error.error, "message": str(error)}
    if error.field:
        body["field"] = error.field
    return response(error.status, body)
