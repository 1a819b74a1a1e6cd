"""Lambda's delivery semantics, locally: what happens around one invocation.

* ``Event`` calls (lambda_async): taken from the emulation's record under a lease; an
  error is retried ``max_retry_attempts`` times (Lambda: 2) after growing delays (Lambda
  waits about 1 and 2 minutes; here the delays are settings, seconds by default); when
  retries run out, an on-failure record in Lambda's destination format goes to the
  function's failure queue, and the call is ``failed``. Whatever keeps a call from
  running (a payload Python cannot parse, the runtime failing) is such an error too, and
  an outcome that cannot be recorded at once is retried, so a handler that ran is not run
  again.
* ``RequestResponse`` calls (lambda_sync): answered while the calling statement waits
  (the handshake is in ``sql/emulation/invoke_sync.sql``); the result, or Lambda's error
  object, is the function's return value.

The containers that run the handlers are :mod:`infra.local.container_pool`; the threads
that poll and dispatch are :mod:`infra.local.lambda_runtime`; every statement against the
emulation's tables is :mod:`infra.local.emulation`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import boto3
import pymysql

from functions.common.database import DatabaseSettings, ReusableConnection, connect
from infra.local import emulation
from infra.local.container_pool import InvocationOutcome, LocalFunction
from infra.local.log_limits import OncePerInterval, log_swallowed

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (1.0, 2.0)
LEASE_MARGIN_SECONDS = 10
# How long a delivery keeps trying to record its outcome (the database restarting, the
# connection lost) before giving up and letting its lease run out: long enough for a
# server restart, since giving up means running the handler again.
RECORD_PATIENCE_SECONDS = 300.0
RECORD_RETRY_SECONDS = 0.5

# (function name, event, request id) -> the outcome of one invocation in a container
Invoke = Callable[[str, object, str], InvocationOutcome]


def unmarshal_error(error: BaseException) -> dict:
    """The error Lambda's Python runtime gives for an event it cannot parse."""
    return {
        "errorType": "Runtime.UnmarshalError",
        "errorMessage": f"Unable to unmarshal input: {error}",
    }


def runtime_error(error: BaseException) -> dict:
    """Lambda's error shape for a failure of the (local) runtime rather than the handler."""
    return {"errorType": "Runtime.Unknown", "errorMessage": f"{type(error).__name__}: {error}"}


def failure_record(
    function: LocalFunction, request_id: str, payload: object, error: dict, attempts: int
) -> dict:
    """Lambda's on-failure destination record for an event whose retries ran out."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function.arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": error,
    }


class ThreadConnections(threading.local):
    """Each thread's own admin connection, checked and replaced by
    :class:`~functions.common.database.ReusableConnection` (the drain's, too)."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.reusable = ReusableConnection(lambda: settings)

    def get(self) -> pymysql.connections.Connection:
        """This thread's connection, reconnected if the server restarted since last use."""
        return self.reusable.get()

    def discard(self) -> None:
        """Forget this thread's connection (after an error that may have broken it)."""
        self.reusable.discard()


class EventDelivery:
    """Event calls with Lambda's semantics: leases, retries, failure records."""

    def __init__(
        self,
        functions: dict[str, LocalFunction],
        invoke: Invoke,
        connections: ThreadConnections,
        retry_delays: tuple[float, ...],
        stopping: threading.Event,
    ) -> None:
        self.functions = functions
        self.retry_delays = retry_delays
        self._invoke = invoke
        self._connections = connections
        self._stopping = stopping
        self._sqs = None
        # Calls this runtime is delivering or recording: never re-leased meanwhile, even
        # when recording the outcome outlasts the lease (the database was away).
        self._delivering: set[int] = set()
        # Outcomes that could not be recorded yet, logged once per kind a minute.
        self._record_errors = OncePerInterval()

    def claim_due(self) -> list[tuple[int, str, str, int]]:
        """Lease every due call: ``(id, function_name, payload, attempts)`` to deliver."""
        # A claim is a lease: a 'running' call whose lease ran out (its delivery died
        # before recording the outcome, e.g. the database went away) is due again.
        admin = self._connections.get()
        claimed = []
        for call_id, function_name, payload, attempts, status in emulation.due_event_calls(
            admin, self.functions
        ):
            if call_id in self._delivering:
                continue
            lease = self.functions[function_name].timeout_seconds + LEASE_MARGIN_SECONDS
            if emulation.claim_event_call(admin, call_id, status, lease):
                self._delivering.add(call_id)
                claimed.append((call_id, function_name, payload, attempts))
        return claimed

    def deliver(self, call_id: int, function_name: str, payload: str, attempts: int) -> None:
        """Run one claimed call and record its outcome: success, a retry later, or, once
        retries run out, ``failed`` with an on-failure record. Whatever goes wrong while
        delivering is a failed attempt, never a lost lease: a lease runs out only when the
        runtime itself dies (or gives up recording, see :meth:`_record`)."""
        try:
            function = self.functions.get(function_name)
            request_id = str(uuid.uuid4())
            event, outcome = self._attempt(function, function_name, payload, request_id)
            attempts += 1
            if outcome.error is None:
                self._record(
                    emulation.finish_event_call,
                    call_id,
                    "succeeded",
                    attempts,
                    response=outcome.result,
                )
            elif function is not None and attempts <= function.max_retry_attempts:
                delay = self.retry_delays[min(attempts - 1, len(self.retry_delays) - 1)]
                self._record(
                    emulation.retry_event_call_later, call_id, attempts, delay, outcome.error
                )
            else:
                if function is not None and function.on_failure_queue_url:
                    self._send_failure_record(function, request_id, event, outcome.error, attempts)
                self._record(
                    emulation.finish_event_call, call_id, "failed", attempts, error=outcome.error
                )
        except Exception:  # the runtime must outlive any one delivery
            log.exception("delivering invocation %s failed", call_id)
            self._connections.discard()
        finally:
            self._delivering.discard(call_id)

    def _attempt(
        self, function: LocalFunction | None, function_name: str, payload: str, request_id: str
    ) -> tuple[object, InvocationOutcome]:
        """One attempt: the event (the payload's text when it cannot be parsed) and outcome."""
        if function is None:
            error = {
                "errorType": "ResourceNotFoundException",
                "errorMessage": f"Function not found in the local runtime: {function_name}",
            }
            return payload, InvocationOutcome(error=error)
        try:
            event = json.loads(payload)
        except Exception as error:  # any parse failure is the event's
            # JSON_VALID accepted it, Python cannot parse it (e.g. an integer of more than
            # 4300 digits): Lambda's Python runtime fails the same way, retries included.
            return payload, InvocationOutcome(error=unmarshal_error(error))
        try:
            return event, self._invoke(function_name, event, request_id)
        except Exception as error:  # a failed attempt, retried like any other
            log.exception("invoking %s for invocation %s failed", function_name, request_id)
            return event, InvocationOutcome(error=runtime_error(error))

    def _send_failure_record(self, function, request_id, event, error, attempts) -> None:
        """Send the on-failure record; a send that fails is logged (the call keeps the
        error) rather than retried forever."""
        record = failure_record(function, request_id, event, error, attempts)
        try:
            if self._sqs is None:
                self._sqs = boto3.client("sqs")
            self._sqs.send_message(
                QueueUrl=function.on_failure_queue_url, MessageBody=json.dumps(record)
            )
        except Exception:
            log.exception("sending the failure record of request %s failed", request_id)

    def _record(self, write, call_id: int, *args, **kwargs) -> None:
        """Write a delivery's outcome with ``write(admin, call_id, *args, **kwargs)``,
        reconnecting and trying again while the database is away: a handler that ran must
        not run again only because its outcome could not be written. After
        ``RECORD_PATIENCE_SECONDS`` (or at ``stop()``) it gives up; the lease then runs
        out and the call is delivered again (at least once, as on Lambda)."""
        deadline = time.monotonic() + RECORD_PATIENCE_SECONDS
        while True:
            try:
                write(self._connections.get(), call_id, *args, **kwargs)
                return
            except (pymysql.err.MySQLError, OSError) as error:
                self._connections.discard()
                if self._stopping.is_set() or time.monotonic() >= deadline:
                    raise
                log_swallowed(
                    log,
                    self._record_errors,
                    error,
                    "recording invocation %s failed, trying again",
                    call_id,
                )
                self._stopping.wait(RECORD_RETRY_SECONDS)


def answer_sync_request(admin: DatabaseSettings, invoke: Invoke, request: tuple) -> None:
    """Run one lambda_sync request (a row of :func:`infra.local.emulation.sync_requests`)
    and answer it while its caller waits, on a connection of its own."""
    request_id, function_name, _, payload, _, _ = request
    outcome = invoke(function_name, json.loads(payload), request_id)
    connection = connect(admin, autocommit=True)
    try:
        emulation.answer_sync_request(connection, request, outcome.result, outcome.error)
    finally:
        connection.close()
