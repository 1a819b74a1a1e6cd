"""Lambda's Invoke API, served by the local runtime on 127.0.0.1.

moto's Lambda cannot run a function (it would need docker), and code that invokes a
function with boto3 (the outbox relay invoking its targets) should not know it runs
locally: boto3 honours ``AWS_ENDPOINT_URL_LAMBDA``, so the local stack points that
variable at this server in the environment of the functions that invoke others, and the
same ``lambda.invoke(...)`` reaches the local runtime. Provisioning keeps talking to
moto's Lambda control plane (only ``Invoke`` is served here).

``POST /2015-03-31/functions/{FunctionName}/invocations``, FunctionName a name, an ARN or
either with a qualifier (``name:$LATEST``, ``name:live``, ``name:3``; the same code runs
for each: the local runtime runs this repository's, it has no versions), and
``?Qualifier=`` likewise:

* ``RequestResponse`` (the default): 200 with the handler's result as the payload; a
  handler error is Lambda's error object with ``X-Amz-Function-Error: Unhandled``.
* ``Event``: 202 at once; the handler runs in the background, once (no async retries:
  the relay, the only caller, invokes synchronously).
* ``DryRun``: 204.
* An unknown function: 404 ``ResourceNotFoundException``, as Lambda answers.
* A body over Lambda's payload limit for the invocation type
  (:mod:`functions.common.lambda_limits`: 1 MB for ``Event``, 6 MB otherwise): 413
  ``RequestEntityTooLargeException`` with Lambda's message, before anything else is read.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from functions.common.lambda_limits import payload_limit
from infra.catalog import LIVE_ALIAS

log = logging.getLogger(__name__)

INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"
LATEST = "$LATEST"


def function_name_of(identifier: str) -> str:
    """The bare function name in a FunctionName parameter: a name, a partial or full ARN,
    each optionally qualified (``:version`` or ``:alias``)."""
    return split_identifier(identifier)[0]


def split_identifier(identifier: str) -> tuple[str, str | None]:
    """``(name, qualifier)`` of a FunctionName parameter (qualifier None when unqualified)."""
    parts = identifier.split(":")
    if identifier.startswith("arn:"):
        # arn:aws:lambda:region:account:function:name[:qualifier]
        name, rest = (parts[6] if len(parts) > 6 else ""), parts[7:]
    elif len(parts) >= 3 and parts[1] == "function":
        name, rest = parts[2], parts[3:]  # account:function:name[:qualifier]
    else:
        name, rest = parts[0], parts[1:]
    return name, (":".join(rest) if rest else None)


def payload_too_large(invocation_type: str, payload_bytes: int) -> str | None:
    """Lambda's message refusing a request body of ``payload_bytes`` bytes for
    ``invocation_type``, or None when the body is within the limit."""
    limit = payload_limit(invocation_type)
    if payload_bytes <= limit:
        return None
    if invocation_type == "Event":
        return (
            f"{payload_bytes} byte payload is too large for the Event invocation type "
            f"(limit {limit} bytes)"
        )
    return f"Request must be smaller than {limit} bytes for the InvokeFunction operation"


def served_qualifier(qualifier: str | None) -> bool:
    """Whether the local runtime runs a function under ``qualifier``: none, ``$LATEST``,
    the alias every caller uses (``live``), or a version number. Another alias does not
    exist on AWS either (a typo here would fail there)."""
    return qualifier in (None, LATEST, LIVE_ALIAS) or (qualifier or "").isdigit()


class LocalLambdaApi:
    """The Invoke API for a :class:`~infra.local.lambda_runtime.LambdaRuntime`.

    Bind first (:meth:`start`, so the URL can go into the functions' environment), then
    :meth:`attach` the runtime that was built with that environment (or several: a name
    is looked up in each, in the order attached)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runtimes: list = []
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lambda-api")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def attach(self, runtime) -> None:
        self.runtimes.append(runtime)

    def detach(self, runtime) -> None:
        self.runtimes.remove(runtime)

    def runtime_serving(self, name: str):
        """The attached runtime that runs function ``name``, or None."""
        return next((r for r in list(self.runtimes) if name in r.functions), None)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="lambda-api"
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._background.shutdown(wait=True, cancel_futures=True)
        if self._thread is not None:
            self._thread.join(5)

    # -- one request ---------------------------------------------------------------

    def answer(self, path: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """``(status, headers, body)`` for one request."""
        parsed = urllib.parse.urlsplit(path)
        route = urllib.parse.unquote(parsed.path)
        if not (route.startswith(INVOKE_PREFIX) and route.endswith(INVOKE_SUFFIX)):
            return error_answer(404, "UnknownOperationException", f"not served here: {route}")
        identifier = route[len(INVOKE_PREFIX) : -len(INVOKE_SUFFIX)]
        invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        # Checked first, as a front end would (the order of Lambda's own checks is not
        # documented): an oversized body is refused whatever the function or the JSON.
        refusal = payload_too_large(invocation_type, len(body))
        if refusal is not None:
            return error_answer(413, "RequestEntityTooLargeException", refusal)
        name, qualifier = split_identifier(identifier)
        query = urllib.parse.parse_qs(parsed.query).get("Qualifier")
        if query:
            if qualifier is not None and qualifier != query[0]:
                return error_answer(
                    400,
                    "InvalidParameterValueException",
                    f"The derived qualifier from the function name does not match the "
                    f"specified qualifier: {identifier}, {query[0]}",
                )
            qualifier = query[0]
            identifier = f"{identifier}:{qualifier}"
        runtime = self.runtime_serving(name) if served_qualifier(qualifier) else None
        if runtime is None:
            return error_answer(
                404, "ResourceNotFoundException", f"Function not found: {identifier}"
            )
        try:
            event = json.loads(body) if body else {}
        except ValueError as error:
            return error_answer(400, "InvalidRequestContentException", f"Could not parse: {error}")
        if invocation_type == "DryRun":
            return 204, {}, b""
        if invocation_type == "Event":
            self._background.submit(self._invoke_in_background, runtime, name, event)
            return 202, {}, b""
        if invocation_type != "RequestResponse":
            return error_answer(
                400, "InvalidParameterValueException", f"InvocationType {invocation_type!r}"
            )
        outcome = runtime.invoke(name, event)
        answer_headers = {"X-Amz-Executed-Version": "$LATEST"}
        if outcome.error is not None:
            answer_headers["X-Amz-Function-Error"] = "Unhandled"
            payload = outcome.error
        else:
            payload = outcome.result
        return 200, answer_headers, json.dumps(payload).encode("utf-8")

    @staticmethod
    def _invoke_in_background(runtime, name: str, event: object) -> None:
        outcome = runtime.invoke(name, event)
        if outcome.error is not None:
            log.warning("Event invocation of %s failed: %s", name, outcome.error.get("errorType"))

    def _handler_class(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    status, headers, payload = api.answer(self.path, self.headers, body)
                except Exception as error:  # the server must outlive any one request
                    log.warning("Invoke %s failed: %s", self.path, error)
                    status, headers, payload = error_answer(500, "ServiceException", str(error))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args):  # noqa: A002 - quiet: one line per call
                log.debug(format, *args)

        return Handler


def error_answer(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """Lambda's service error: the type in ``X-Amzn-ErrorType`` and the body (boto3 reads both)."""
    body = json.dumps({"Type": "User", "message": message}).encode("utf-8")
    return status, {"X-Amzn-ErrorType": error_type}, body
