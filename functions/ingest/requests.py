"""From an API Gateway event to a queue message, and back to an HTTP answer (pure functions).

Accepts both proxy event shapes: REST API (payload 1.0: ``httpMethod``, ``path``) and
HTTP API (payload 2.0: ``requestContext.http.method``, ``rawPath``). The resource's path
is the route API Gateway matched, whatever the stage: HTTP API's ``rawPath`` carries a
named stage (``/prod/orders``) while its ``routeKey`` (``POST /orders``) does not, so the
route key is read first, then ``rawPath`` without ``/<requestContext.stage>``; REST API's
``resource`` (``/orders``) is read before its ``path`` (also without the stage).

Callers: with ``auth`` ``iam`` (the API's routes are ``AWS_IAM``) the principal is the
caller's ARN, ``requestContext.authorizer.iam.userArn`` (payload 1.0:
``requestContext.identity.userArn``); with ``jwt`` it is the token's ``sub`` claim,
``requestContext.authorizer.jwt.claims.sub`` (payload 1.0:
``requestContext.authorizer.claims.sub``); with ``none`` (an anonymous API, set so on
purpose) there is none. A request without a usable principal under ``iam`` or ``jwt`` is
refused (403 ``forbidden``), before anything else is read: it reached the function past
no authorizer (a route changed by hand), and stored without its caller it would share
every other anonymous caller's keys.

Idempotency contract: a client sends a key in the ``Idempotency-Key`` header (1 to 128
visible ASCII characters). The row's identity is that key within the resource's scope
(:attr:`~functions.common.resources.Resource.scope`: for orders the customer, for
customers the key alone) and the caller's (the principal): the stored key is
:func:`~functions.common.resources.stored_key`. Without a key, the request is keyed by
its body's hash (the SHA-256 of the validated values' canonical JSON), so two identical
bodies are one request. The first request under a stored key makes the row; an exact
resend is a no-op; one with another body is a conflict the drain records (the row stays
the first one). The 202 answer echoes the client's key (or ``sha256:`` + the body's hash)
and the stored key. The message's body and deduplication id are
:mod:`functions.common.queue_messages`'s.

Nothing an event can carry makes these functions raise anything but :class:`RequestError`
(an answer: 400, 403, 404, 405 or 413): :func:`answer` is the whole function, minus the queue.
Only characters SQS accepts reach the queue (:mod:`functions.common.sqs_text`): a value
holding another is a 400 naming the field and the code point, and should the queue still
refuse a message for what it holds (:func:`queue_refusal`), that is a 400 or a 413, never
a 503 that every retry would get again.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.common.queue_messages import deduplication_id, message_body, queued_row
from functions.common.resources import (
    InvalidRequest,
    JsonNumber,
    json_type,
    message_group_id,
    resource_for_path,
    validate_body,
)
from functions.common.sqs_text import first_refused

RETRY_AFTER_SECONDS = "5"
# fullmatch: with re's "$" a key ending in a newline would pass.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")
_log = logging.getLogger("ingest")
# The API's authorization (the deploy setting api_auth) -> where the principal is, by
# payload version (as the error message names it).
AUTH_MODES = ("iam", "jwt", "none")
_PRINCIPAL_PATHS = {
    "iam": {
        "2.0": ("authorizer", "iam", "userArn"),
        "1.0": ("identity", "userArn"),
    },
    "jwt": {
        "2.0": ("authorizer", "jwt", "claims", "sub"),
        "1.0": ("authorizer", "claims", "sub"),
    },
}
# ingest_conflicts.principal is a VARCHAR(2048); an IAM ARN is at most 2048 characters.
MAX_PRINCIPAL_LENGTH = 2048


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    request_id: str
    # What the request context says of the caller, as found (not yet checked): auth mode
    # (iam, jwt) -> the value at that mode's place (see _PRINCIPAL_PATHS).
    callers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueMessage:
    body: str
    group_id: str
    deduplication_id: str
    idempotency_key: str  # the client's, or "sha256:" + the body's hash
    resource: str
    stored_key: str = ""  # the row's identity: the key in its scope


class RequestError(Exception):
    """An answer other than 202: status, error code and a message for the client."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.error, self.field = status, error, field


class QueueUnavailable(Exception):
    """Raised by :func:`answer`'s ``send`` when the queue cannot take the message (503)."""


class MessageRefused(RequestError):
    """Raised by :func:`answer`'s ``send`` when the queue refuses this message for what it
    holds (see :func:`queue_refusal`): a retry would be refused again, so it is the
    client's answer (400 or 413), not a 503."""


# SQS's error codes for a message refused for its content; the JSON protocol's long form
# (AWS.SimpleQueueService.*) is read too. A message too long is an InvalidParameterValue
# whose message says so; other InvalidParameterValues (group or deduplication id) are ours.
_CONTENTS_ERRORS = {"InvalidMessageContents"}
_PARAMETER_ERRORS = {"InvalidParameterValue", "InvalidParameterValueException"}
_TOO_LONG = re.compile(r"message must be shorter than", re.IGNORECASE)


def queue_refusal(code: str, message: str) -> MessageRefused | None:
    """The client's answer to SQS's error ``code`` (with its ``message``) from SendMessage,
    when the message's content caused it; None when it is the queue's (or our) problem."""
    code = code.removeprefix("AWS.SimpleQueueService.")
    if code in _CONTENTS_ERRORS:
        return MessageRefused(
            400, "invalid_request", "the queue refused the message's characters: " + message
        )
    if code in _PARAMETER_ERRORS and _TOO_LONG.search(message):
        return MessageRefused(413, "payload_too_large", "the queue refused the message: " + message)
    return None


def _invalid(message: str, field: str | None = None) -> RequestError:
    return RequestError(400, "invalid_request", message, field)


def auth_mode(text: str) -> str:
    """``text`` (the ``API_AUTH`` setting) as an auth mode; ValueError for anything else."""
    if text not in AUTH_MODES:
        raise ValueError(f"API_AUTH must be one of {', '.join(AUTH_MODES)}, not {text!r}")
    return text


def answer(
    event: Any,
    send: Callable[[QueueMessage], str],
    max_message_bytes: int,
    log: logging.Logger | Any = _log,
    *,
    auth: str,
) -> dict:
    """The ingest function's answer to any event: 202, 400, 403, 404, 405, 413, or 503.

    ``send`` puts a message on the queue and returns its message id, or raises
    :class:`QueueUnavailable` (503) or :class:`MessageRefused` (its 4xx); ``log`` is a
    stdlib or Powertools logger; ``auth`` is the API's authorization (:data:`AUTH_MODES`),
    which says where the principal is.
    """
    try:
        request = parse_api_event(event)
        principal = principal_of(request, auth)
        message = build_message(request, max_message_bytes, principal=principal)
    except RequestError as error:
        log.info("request refused", extra={"status": error.status, "reason": str(error)})
        return error_response(error)
    try:
        message_id = send(message)
    except MessageRefused as error:
        log.warning(
            "queue refused the message", extra={"status": error.status, "reason": str(error)}
        )
        return error_response(error)
    except QueueUnavailable as error:
        log.error("queue unavailable", extra={"error": str(error)})
        return response(
            503,
            {"error": "unavailable", "message": "the queue is unavailable; retry later"},
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    log.info("accepted", extra={"resource": message.resource, "key": message.idempotency_key})
    return accepted(message, message_id)


def parse_api_event(event: Any) -> ApiRequest:
    """Read method, path, headers, body and request id from a v1 or v2 proxy event.

    An event that is not what API Gateway sends (a missing or non-string method, path or
    header; a body that is not base64 or not UTF-8) is a :class:`RequestError` (400).
    """
    if not isinstance(event, dict):
        raise _invalid("the event must be an object")
    context = event.get("requestContext")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise _invalid("the event's requestContext must be an object")
    if event.get("version") == "2.0":
        http = context.get("http")
        method = http.get("method") if isinstance(http, dict) else None
        path = _route_path(event.get("routeKey")) or _without_stage(
            event.get("rawPath"), context.get("stage")
        )
    else:
        method = event.get("httpMethod")
        path = _route_path(event.get("resource"), with_method=False) or event.get("path")
    if not isinstance(method, str) or not method:
        raise _invalid("the event has no HTTP method")
    if not isinstance(path, str):
        raise _invalid("the event has no path")
    headers = _headers(event.get("headers"))
    body = _body(event.get("body"), event.get("isBase64Encoded"))
    # Only ever copied into the message: anything unusable is left out, not refused.
    request_id = context.get("requestId")
    if (
        not isinstance(request_id, str)
        or len(request_id) > 128
        or first_refused(request_id) is not None  # also every lone surrogate (no UTF-8)
    ):
        request_id = ""
    version = "2.0" if event.get("version") == "2.0" else "1.0"
    callers = {mode: _dig(context, paths[version]) for mode, paths in _PRINCIPAL_PATHS.items()}
    return ApiRequest(method.upper(), path, headers, body, request_id, callers)


def _dig(mapping: Any, keys: tuple[str, ...]) -> Any:
    """``mapping[k1][k2]...``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def principal_of(request: ApiRequest, auth: str) -> str | None:
    """The authenticated caller of ``request`` under ``auth``: the caller's ARN (``iam``),
    the token's ``sub`` (``jwt``), None (``none``).

    A request without one, or with one that cannot be stored (not text, over
    :data:`MAX_PRINCIPAL_LENGTH` characters, a character SQS refuses), is a
    :class:`RequestError` 403: never stored under an empty principal.
    """
    if auth_mode(auth) == "none":
        return None
    value = request.callers.get(auth)
    if not isinstance(value, str) or not value:
        where = ".".join(("requestContext", *_PRINCIPAL_PATHS[auth]["2.0"]))
        raise RequestError(
            403,
            "forbidden",
            f"the request has no authenticated caller ({where}): the API requires {auth} "
            "authentication",
        )
    if len(value) > MAX_PRINCIPAL_LENGTH or first_refused(value) is not None:
        raise RequestError(
            403,
            "forbidden",
            f"the request's authenticated caller cannot be stored as its principal "
            f"({len(value)} characters; at most {MAX_PRINCIPAL_LENGTH}, all of them SQS's)",
        )
    return value


def _route_path(route: Any, with_method: bool = True) -> str | None:
    """The literal path of the route API Gateway matched: ``/orders`` from HTTP API's
    ``routeKey`` ``POST /orders`` (``with_method``) or REST API's ``resource`` ``/orders``.

    None when there is no literal path to read (absent, ``$default``, a template such as
    ``/{proxy+}``, anything but text): the request's own path is read instead.
    """
    if not isinstance(route, str):
        return None
    if with_method:
        route = route.partition(" ")[2]
    if not route.startswith("/") or "{" in route:
        return None
    return route


def _without_stage(raw_path: Any, stage: Any) -> Any:
    """HTTP API's ``rawPath`` without its first segment when that is the named stage
    (``/prod/orders`` on stage ``prod``: ``/orders``); the ``$default`` stage has none."""
    if not isinstance(raw_path, str) or not isinstance(stage, str):
        return raw_path
    if not stage or stage == "$default":
        return raw_path
    prefix = f"/{stage}"
    if raw_path == prefix:
        return "/"
    if raw_path.startswith(prefix + "/"):
        return raw_path[len(prefix) :]
    return raw_path


def _headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise _invalid("the event's headers must be an object")
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise _invalid(f"header {name!r} must be a string, got {json_type(value)}", str(name))
        key = name.lower()
        # Two spellings of one header (Idempotency-Key and idempotency-key) that disagree
        # are ambiguous: neither one may silently win.
        if lowered.get(key, value) != value:
            raise _invalid(f"header {key!r} is given twice, with different values", name)
        lowered[key] = value
    return lowered


def _body(raw: Any, base64_encoded: Any) -> bytes:
    if base64_encoded is None:
        base64_encoded = False
    if not isinstance(base64_encoded, bool):
        raise _invalid("the event's isBase64Encoded must be true or false")
    if raw is None:
        return b""
    if not isinstance(raw, str):
        raise _invalid(f"the event's body must be a string, got {json_type(raw)}")
    if base64_encoded:
        try:
            return base64.b64decode(raw, validate=True)
        except ValueError:  # binascii.Error, or non-ASCII text
            raise _invalid("body is not valid base64 (isBase64Encoded is true)") from None
    try:
        return raw.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 client sent that
        raise _invalid("body is not UTF-8") from None


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would keep the last of two equal keys: the client meant one of them.
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _invalid(f"body has the key {key!r} more than once")
        seen[key] = value
    return seen


def parse_body(body: bytes) -> Any:
    """The body as JSON: UTF-8, every key once, numbers with a fraction kept as sent."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("body is not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_keys, parse_float=JsonNumber)
    except RecursionError:  # the C parser stops at the interpreter's recursion limit
        raise _invalid("body is not valid JSON: nested too deeply") from None
    except ValueError as error:
        raise _invalid(f"body is not valid JSON: {error}") from None


def client_key(request: ApiRequest) -> str | None:
    """The client's ``Idempotency-Key``, or None when it sent none."""
    given = request.headers.get("idempotency-key")
    if given is not None and not _IDEMPOTENCY_KEY.fullmatch(given):
        raise RequestError(
            400,
            "invalid_request",
            "header Idempotency-Key must be 1 to 128 visible ASCII characters",
            "Idempotency-Key",
        )
    return given


def build_message(
    request: ApiRequest,
    max_message_bytes: int,
    now: datetime | None = None,
    principal: str | None = None,
) -> QueueMessage:
    """Validate the request and build its queue message, scoped to ``principal`` (see
    :func:`principal_of`); :class:`RequestError` otherwise."""
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
    parsed = parse_body(request.body)
    try:
        values = validate_body(resource, parsed)
    except InvalidRequest as invalid:
        raise RequestError(400, "invalid_request", str(invalid), invalid.field) from None
    key = client_key(request)
    row = queued_row(resource, values, key, principal=principal, request_id=request.request_id)
    body = message_body(row, now)
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
        deduplication_id=deduplication_id(row),
        idempotency_key=key if key is not None else "sha256:" + row.body_hash,
        resource=resource.name,
        stored_key=row.idempotency_key,
    )


def response(status: int, body: dict, headers: dict | None = None) -> dict:
    """A proxy-integration response (valid for both payload versions).

    The body is ASCII JSON: an echoed field name may hold a lone surrogate, which has no
    UTF-8 form; escaped as ``\\ud800`` it is still valid JSON.
    """
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, ensure_ascii=True),
    }


def accepted(message: QueueMessage, message_id: str) -> dict:
    return response(
        202,
        {
            "status": "accepted",
            "resource": message.resource,
            "idempotency_key": message.idempotency_key,
            "stored_key": message.stored_key,
            "message_id": message_id,
        },
    )


def error_response(error: RequestError) -> dict:
    """The 4xx answer for a request refused with ``error``."""
    body = {"error": error.error, "message": str(error)}
    if error.field:
        body["field"] = error.field
    return response(error.status, body)
