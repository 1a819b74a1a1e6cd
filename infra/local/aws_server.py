"""A moto server on loopback: SQS, SNS, SES, IAM, RDS, Secrets Manager, Lambda's control plane.

Project code reaches it only through ``AWS_ENDPOINT_URL``, as it would reach AWS. One
local addition: ``GET /_local/ses/sent`` returns the emails SES "sent" (moto keeps them
in memory and offers no API to read them back; its ``/moto-api/data.json`` fails once a
Lambda function exists).
"""

from __future__ import annotations

import json
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

try:  # moto's handler fixes header spelling; its module moved between releases
    from moto.moto_server.werkzeug_app import MotoRequestHandler as _BaseHandler
except ImportError:  # pragma: no cover
    _BaseHandler = WSGIRequestHandler

from infra.local.db_server import free_port

FAKE_CREDENTIALS = {
    # moto accepts any credentials; these say so, and keep real ones out of reach.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
DEFAULT_REGION = "us-east-1"
SES_SENT_PATH = "/_local/ses/sent"


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
    """moto in a thread of this process, on 127.0.0.1."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self._server = None
        self._thread: threading.Thread | None = None

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

    def start(self) -> None:
        app = _WithLocalRoutes(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            "127.0.0.1", self.port, app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
