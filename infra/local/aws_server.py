"""A moto server on loopback: SQS, SNS, SES, IAM, RDS, Secrets Manager, Lambda's control plane.

Project code reaches it only through ``AWS_ENDPOINT_URL``, as it would reach AWS. One
local addition: ``GET /_local/ses/sent`` returns the emails SES "sent" (moto keeps them
in memory and offers no API to read them back; its ``/moto-api/data.json`` fails once a
Lambda function exists).

The server is a process of its own (``python -m infra.local.aws_server --port N``), not a
thread of the stack: moto does its work in Python (each SNS notification to a subscribed
queue is signed with a fresh certificate), and as a thread it took the GIL from the
runtime, the pollers and the API whenever it was busy. In that process, moto's SQS reads
a queue's attributes lazily (:mod:`infra.local.moto_sqs`), so that a queue nobody empties
(the notification tail) no longer slows every send to it, and refuses a message body as
SQS does (a character outside SQS's set, or too many UTF-8 bytes). Its IAM holds AWS's
managed policies, as AWS does (``AWSLambdaVPCAccessExecutionRole`` for functions in a
VPC), loaded before it listens, while the stack starts its database.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

try:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server
except ImportError as missing:  # a deployment's install (no extras) has no local AWS
    raise ImportError(
        f"the local stack needs moto ({missing}): pip install 'aurora-events[local]'"
    ) from missing

try:  # moto's handler fixes header spelling; its module moved between releases
    from moto.moto_server.werkzeug_app import MotoRequestHandler as _BaseHandler
except ImportError:  # pragma: no cover
    _BaseHandler = WSGIRequestHandler

from infra.local import moto_sqs
from infra.local.db_server import free_port

FAKE_CREDENTIALS = {
    # moto accepts any credentials; these say so, and keep real ones out of reach.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
DEFAULT_REGION = "us-east-1"
SES_SENT_PATH = "/_local/ses/sent"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10
REPO_ROOT = Path(__file__).resolve().parents[2]


class AwsServerError(RuntimeError):
    """The moto server process did not start."""


def sent_emails() -> list[dict]:
    """Every email SES accepted, in the order sent (read in the server's process)."""
    from moto.ses.models import ses_backends

    emails = []
    for account_backends in ses_backends.values():
        for backend in account_backends.values():
            for message in backend.sent_messages:
                emails.append(_email_record(message))
    return emails


def _email_record(message) -> dict:
    record = {"id": getattr(message, "id", None), "source": getattr(message, "source", None)}
    destinations = getattr(message, "destinations", None) or {}
    record["to"] = (
        list(destinations.get("ToAddresses", [])) if isinstance(destinations, dict) else []
    )
    record["subject"] = getattr(message, "subject", None)
    record["body"] = getattr(message, "body", None)
    return record


class _WithLocalRoutes:
    """WSGI middleware: our one route, everything else to moto."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == SES_SENT_PATH:
            body = json.dumps(sent_emails(), ensure_ascii=False).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        return self.app(environ, start_response)


class _QuietHandler(_BaseHandler):
    def log_request(self, *args, **kwargs) -> None:  # one line per AWS call is noise here
        pass


class LocalAwsServer:
    """moto in a process of its own, on 127.0.0.1: ``start()`` / ``stop()``."""

    def __init__(self, port: int = 0, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else None
        self._process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self, region: str = DEFAULT_REGION) -> dict[str, str]:
        """The variables that point boto3 (and so all project code) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            **FAKE_CREDENTIALS,
        }

    def start(self, wait: bool = True) -> None:
        """Start the server process; with ``wait=False`` return at once and call
        :meth:`wait_until_ready` before the first AWS call (it loads IAM's managed
        policies first, which can overlap with starting the database)."""
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "infra.local.aws_server", "--port", str(self.port)],
                # The server reads its stdin until EOF: it ends with this process, even one
                # killed without a chance to stop it.
                stdin=subprocess.PIPE,
                stdout=log or subprocess.DEVNULL,
                stderr=log or None,
                env={
                    **os.environ,
                    "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
                    "PYTHONPATH": os.pathsep.join(
                        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
                    ),
                },
                cwd=REPO_ROOT,
            )
        finally:
            if log is not None:
                log.close()
        if wait:
            self.wait_until_ready()

    def wait_until_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Return once the server accepts connections; :class:`AwsServerError` if its process
        ended or it did not listen within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise AwsServerError(f"the moto server exited (code {code}){self._log_hint()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AwsServerError(
                        f"the moto server did not listen on port {self.port} within "
                        f"{timeout:.0f} s{self._log_hint()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """End the server process (and with it every resource it held)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _log_hint(self) -> str:
        return f"; see {self.log_path}" if self.log_path else ""


def serve(port: int) -> None:
    """Serve moto on 127.0.0.1:``port`` until stdin closes or SIGTERM (the process's body)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam_backends[DEFAULT_ACCOUNT_ID]["aws"]  # loads the managed policies before listening
    moto_sqs.read_attributes_lazily()  # see infra/local/moto_sqs.py
    moto_sqs.check_bodies_as_sqs_does()  # ditto
    app = _WithLocalRoutes(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)

    def until_stdin_closes() -> None:
        sys.stdin.buffer.read()
        server.shutdown()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The local stack's moto server.")
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
