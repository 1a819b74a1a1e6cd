"""A local stand-in for API Gateway: HTTP on 127.0.0.1, each request turned into a REST API
proxy event (payload 1.0) for one function, its answer turned back into HTTP.

``curl -X POST http://127.0.0.1:<port>/orders -H 'Idempotency-Key: k1' -d '{...}'``
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from infra.local.db_server import free_port
from infra.local.lambda_runtime import LambdaRuntime

STAGE = "local"


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

    def __init__(self, runtime: LambdaRuntime, function_name: str, port: int = 0) -> None:
        self.runtime = runtime
        self.function_name = function_name
        self.port = port or free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
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
        if outcome.error is not None or not isinstance(result, dict) or "statusCode" not in result:
            body = json.dumps({"message": "Internal server error"}).encode()
            return 502, {"Content-Type": "application/json"}, body
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        return int(result["statusCode"]), dict(result.get("headers") or {}), raw

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
