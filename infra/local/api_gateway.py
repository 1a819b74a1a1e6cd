"""A local stand-in for API Gateway: HTTP on 127.0.0.1, each request turned into a REST API
proxy event (payload 1.0) for one function, its answer turned back into HTTP.

``curl -X POST http://127.0.0.1:<port>/orders -H 'Idempotency-Key: k1' -d '{...}'``

Like API Gateway, it refuses a body over 10 MB (413) and a Content-Length it cannot read
(400) from the headers alone, before reading any of the body; a client that announces
more than it sends is answered 400 (it closed) or 408 (it went quiet for the timeout).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from infra.local.db_server import free_port
from infra.local.lambda_runtime import LambdaRuntime

STAGE = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit, 10 MB
READ_TIMEOUT_SECONDS = 30.0
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


def proxy_event(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> dict:
    """The REST API proxy event API Gateway would send for this request."""
    parts = urlsplit(raw_path)
    query = dict(parse_qsl(parts.query)) or None
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": query,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": STAGE,
            "httpMethod": method,
            "path": f"/{STAGE}{parts.path}",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class LocalApiGateway:
    """Serves every path with one function (the ingest function answers 404 itself)."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        function_name: str,
        port: int = 0,
        read_timeout_seconds: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.function_name = function_name
        self.port = port or free_port()
        self.read_timeout_seconds = read_timeout_seconds
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            # Every socket read and write: a client that stops sending frees its thread.
            timeout = gateway.read_timeout_seconds

            def _handle(self) -> None:
                try:
                    body = self._read_body()
                except GatewayRefusal as refusal:
                    self._refuse(refusal)
                    return
                headers = {key: value for key, value in self.headers.items()}
                event = proxy_event(self.command, self.path, headers, body)
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

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

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
