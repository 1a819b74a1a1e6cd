"""A local stand-in for the deployed HTTP API (API Gateway v2): HTTP on 127.0.0.1, the
same routes (:func:`infra.aws.resources.http_api.route_keys`) behind the same stage, each request
turned into the payload 2.0 event API Gateway sends the ingest function, its answer
turned back into HTTP.

``curl -X POST http://127.0.0.1:<port>/prod/orders -H 'Idempotency-Key: k1' -d '{...}'``

:attr:`LocalApiGateway.url` is the invoke URL, stage included, as ``deploy apply`` prints
it for AWS. A request outside the stage's routes (another path or method, or no stage
prefix) is answered ``404 {"message": "Not Found"}`` by the gateway, as API Gateway
answers it. Like API Gateway, it refuses a body over 10 MB (413) and a Content-Length it
cannot read (400) from the headers alone, before reading any of the body; a client that
announces more than it sends is answered 400 (it closed) or 408 (it went quiet for the
timeout).

Callers: as API Gateway fills ``requestContext.authorizer`` once it has authorized a
request (``iam``: ``iam.userArn``; ``jwt``: ``jwt.claims.sub``; ``none``: nothing), the
gateway fills it with a principal: a fixed one, or with ``principal_header`` (e.g.
``X-Local-Principal``) the value of that header, so that tests can act as several callers;
a request without that header is refused as API Gateway refuses an unsigned request
(``iam``: 403 ``Forbidden``) or one without a token (``jwt``: 401 ``Unauthorized``). It
verifies no signature and no token: whoever can reach 127.0.0.1 is that principal.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from infra.aws.resources.http_api_settings import route_keys, stage_path
from infra.catalog import Deployment
from infra.local.db_server import free_port
from infra.local.lambda_runtime import LambdaRuntime

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit, 10 MB
READ_TIMEOUT_SECONDS = 30.0
LOCAL_API_ID = "local"
# The JWT subject the gateway fills in by default (api_auth = "jwt", no header).
LOCAL_JWT_SUBJECT = "local"
# API Gateway's answers to a request its authorizer refuses.
_UNAUTHORIZED = {"iam": (403, "Forbidden"), "jwt": (401, "Unauthorized")}
_DIGITS = re.compile(r"[0-9]+")


class GatewayRefusal(Exception):
    """A request answered by the gateway itself, as API Gateway does: ``{"message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def body_length(content_lengths: list[str] | None, transfer_encoding: str | None) -> int:
    """The number of body bytes to read, from the request's Content-Length header(s).

    :class:`GatewayRefusal` for anything but one decimal number up to
    :data:`MAX_BODY_BYTES` (int() alone would take "-1", "+5", " 5" and "1_0").
    """
    if transfer_encoding is not None:
        # Reading no body would hand the function an empty one: refuse instead.
        raise GatewayRefusal(411, "Transfer-Encoding is not supported here; send a Content-Length")
    values = {value.strip(" \t") for value in content_lengths or []}
    if not values:
        return 0
    if len(values) > 1:
        raise GatewayRefusal(400, "Content-Length is given twice, with different values")
    (value,) = values
    if not _DIGITS.fullmatch(value):
        raise GatewayRefusal(400, f"Content-Length must be a number of bytes, got {value[:40]!r}")
    if len(value.lstrip("0")) > 20:  # thousands of digits: not worth converting, or echoing
        raise GatewayRefusal(413, f"Content-Length is over the {MAX_BODY_BYTES}-byte payload limit")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise GatewayRefusal(
            413, f"Content-Length {length} is over the {MAX_BODY_BYTES}-byte payload limit"
        )
    return length


def route_key_for(method: str, target: str, stage: str) -> str | None:
    """The route a request matches (``POST /orders``), or None (API Gateway's 404).

    ``target`` is the request line's path and query; behind a named stage the path must
    start with ``/<stage>/``, which is not part of the route.
    """
    path = urlsplit(target).path
    prefix = stage_path(stage)
    if prefix:
        if not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix) :]
    route_key = f"{method} {path}"
    return route_key if route_key in route_keys() else None


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    # HTTP API gives a repeated header or query parameter once, its values comma-joined.
    joined: dict[str, str] = {}
    for key, value in pairs:
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def authorizer_context(auth: str, principal: str) -> dict | None:
    """``requestContext.authorizer`` as API Gateway fills it for ``principal`` under
    ``auth`` (``iam``: the caller's ARN, whose account it also gives; ``jwt``: the token's
    ``sub``); None for ``none`` (an anonymous route has no authorizer)."""
    if auth == "iam":
        parts = principal.split(":")
        return {
            "iam": {
                "accessKey": "",
                "accountId": parts[4] if len(parts) > 5 else "",
                "callerId": "",
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": principal,
                "userId": "",
            }
        }
    if auth == "jwt":
        return {"jwt": {"claims": {"sub": principal}, "scopes": None}}
    return None


def http_api_event(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    route_key: str,
    stage: str,
    source_ip: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
    authorizer: dict | None = None,
) -> dict:
    """The payload 2.0 event API Gateway would send for this request: ``rawPath`` as
    requested (with the stage), ``routeKey`` and ``requestContext.stage`` without it;
    ``requestContext.authorizer`` when given (:func:`authorizer_context`)."""
    parts = urlsplit(target)
    lowered = [(name.lower(), value) for name, value in headers]
    cookies = [
        cookie.strip()
        for name, value in lowered
        if name == "cookie"
        for cookie in value.split(";")
        if cookie.strip()
    ]
    header_values = _joined((name, value) for name, value in lowered if name != "cookie")
    now = time.time()
    host = header_values.get("host", "127.0.0.1")
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": header_values,
        "requestContext": {
            "apiId": LOCAL_API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": header_values.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if cookies:
        event["cookies"] = cookies
    query = _joined(parse_qsl(parts.query, keep_blank_values=True))
    if query:
        event["queryStringParameters"] = query
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


class LocalApiGateway:
    """Serves the API's routes on ``stage`` with one function, as the deployed API does.

    ``auth`` is the deployment's ``api_auth``; the caller is ``principal`` (for ``jwt``,
    :data:`LOCAL_JWT_SUBJECT` when not given), or with ``principal_header`` the value of
    that header (taken out of the event's headers: it is the gateway's, not the client's).
    """

    def __init__(
        self,
        runtime: LambdaRuntime,
        function_name: str,
        stage: str = Deployment().api_stage,
        port: int = 0,
        read_timeout_seconds: float = READ_TIMEOUT_SECONDS,
        auth: str = "none",
        principal: str | None = None,
        principal_header: str = "",
    ) -> None:
        self.runtime = runtime
        self.function_name = function_name
        self.stage = stage
        self.port = port or free_port()
        self.read_timeout_seconds = read_timeout_seconds
        self.auth = auth
        if auth == "jwt" and not principal:
            principal = LOCAL_JWT_SUBJECT
        if auth == "iam" and not principal and not principal_header:
            raise ValueError("an iam gateway needs a principal (an ARN) or a principal_header")
        self.principal = principal if auth != "none" else None
        self.principal_header = principal_header
        self._server: ThreadingHTTPServer | None = None

    def caller(self, headers: Iterable[tuple[str, str]]) -> str | None:
        """The principal a request with ``headers`` is authorized as (None: anonymous
        API); :class:`GatewayRefusal` as API Gateway's authorizer refuses one without."""
        if self.auth == "none":
            return None
        if not self.principal_header:
            return self.principal
        wanted = self.principal_header.lower()
        given = [value for name, value in headers if name.lower() == wanted]
        if len(given) != 1 or not given[0]:
            raise GatewayRefusal(*_UNAUTHORIZED[self.auth])
        return given[0]

    @property
    def url(self) -> str:
        """The invoke URL: ``http://127.0.0.1:<port>/<stage>`` (no stage for ``$default``)."""
        return f"http://127.0.0.1:{self.port}{stage_path(self.stage)}"

    def start(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            # Every socket read and write: a client that stops sending frees its thread.
            timeout = gateway.read_timeout_seconds

            def _handle(self) -> None:
                route_key = route_key_for(self.command, self.path, gateway.stage)
                try:
                    if route_key is None:
                        raise GatewayRefusal(404, "Not Found")
                    principal = gateway.caller(self.headers.items())  # before the body
                    body = self._read_body()
                except GatewayRefusal as refusal:
                    self._refuse(refusal)
                    return
                header = gateway.principal_header.lower()
                event = http_api_event(
                    self.command,
                    self.path,
                    [(k, v) for k, v in self.headers.items() if not header or k.lower() != header],
                    body,
                    route_key=route_key,
                    stage=gateway.stage,
                    source_ip=self.client_address[0],
                    protocol=self.request_version,
                    authorizer=None
                    if principal is None
                    else authorizer_context(gateway.auth, principal),
                )
                outcome = gateway.runtime.invoke(gateway.function_name, event)
                status, reply_headers, reply = gateway.http_answer(outcome)
                self.send_response(status)
                for key, value in reply_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def _read_body(self) -> bytes:
                length = body_length(
                    self.headers.get_all("Content-Length"), self.headers.get("Transfer-Encoding")
                )
                body = bytearray()
                try:
                    while len(body) < length:
                        chunk = self.rfile.read1(length - len(body))
                        if not chunk:
                            raise GatewayRefusal(
                                400,
                                f"the body ended after {len(body)} of the {length} bytes its "
                                "Content-Length announced",
                            )
                        body += chunk
                except TimeoutError:
                    raise GatewayRefusal(
                        408,
                        f"the body did not arrive: {len(body)} of the {length} bytes announced, "
                        f"then {gateway.read_timeout_seconds:g} s of silence",
                    ) from None
                return bytes(body)

            def _refuse(self, refusal: GatewayRefusal) -> None:
                reply = json.dumps({"message": str(refusal)}).encode()
                # The unread rest of the body makes the connection unusable: close it.
                self.close_connection = True
                self.send_response(refusal.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

            def log_message(self, *args) -> None:  # one line per request is noise here
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @staticmethod
    def http_answer(outcome) -> tuple[int, dict[str, str], bytes]:
        """A function's proxy response as HTTP; a function error is a 502, as on API Gateway."""
        result = outcome.result
        failed = 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}'
        if outcome.error is not None or not isinstance(result, dict) or "statusCode" not in result:
            return failed
        try:
            body = result.get("body") or ""
            raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
            return int(result["statusCode"]), dict(result.get("headers") or {}), raw
        except (AttributeError, TypeError, ValueError):
            return failed  # e.g. a body with a lone surrogate: it has no bytes to send

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
