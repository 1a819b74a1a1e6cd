"""The local Lambda runtime: delivers the calls recorded by the emulated lambda_async /
lambda_sync to the Python handlers, with Lambda's semantics.

* ``Event`` calls (lambda_async): taken from ``aurora_emulation.invocations``; an error
  is retried ``max_retry_attempts`` times (Lambda: 2) after growing delays (Lambda waits
  about 1 and 2 minutes; here the delays are settings, seconds by default); when retries
  run out, an on-failure record in Lambda's destination format goes to the function's
  failure queue, and the row says ``failed``. Whatever keeps a call from running (a
  payload Python cannot parse, the runtime failing) is such an error too, and an outcome
  that cannot be recorded at once is retried, so a handler that ran is not run again.
* ``RequestResponse`` calls (lambda_sync): answered while the calling statement waits
  (the handshake is described in ``sql/emulation/native_lambda.sql``); the result, or
  Lambda's error object, is the function's return value.

Each function runs in its own worker processes (``infra.local.lambda_worker``), each one
a container: the handler module is imported once, with the function's environment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pymysql

from functions.common.database import DatabaseSettings, connect
from infra.local import emulation

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RETRY_DELAYS = (1.0, 2.0)
LEASE_MARGIN_SECONDS = 10
# How long a delivery keeps trying to record its outcome (the database restarting, the
# connection lost) before giving up and letting its lease run out: long enough for a
# server restart, since giving up means running the handler again.
RECORD_PATIENCE_SECONDS = 300.0
RECORD_RETRY_SECONDS = 0.5


@dataclass(frozen=True)
class LocalFunction:
    """A function as the runtime runs it (see :func:`infra.local.stack.local_functions`)."""

    name: str  # deployed name, the one in the ARN
    arn: str
    handler: str
    timeout_seconds: float = 30
    memory_mb: int = 256
    environment: dict[str, str] = field(default_factory=dict)
    max_retry_attempts: int = 2
    on_failure_queue_url: str | None = None
    concurrency: int = 2


@dataclass
class InvocationOutcome:
    result: object = None
    error: dict | None = None


class FunctionContainer:
    """One worker process for one function."""

    def __init__(self, function: LocalFunction, log_file) -> None:
        self.function = function
        self._log_file = log_file
        self._process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = {
            **os.environ,
            **self.function.environment,
            "AWS_LAMBDA_FUNCTION_NAME": self.function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.function.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(self.function.timeout_seconds)),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
            ),
            "PYTHONUNBUFFERED": "1",
        }
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.local.lambda_worker",
                self.function.handler,
                self.function.name,
                self.function.arn,
                str(self.function.timeout_seconds),
                str(self.function.memory_mb),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
            text=True,
            encoding="utf-8",
            cwd=REPO_ROOT,
        )

    def invoke(self, event: object, request_id: str) -> InvocationOutcome:
        """Run the handler once; a timeout or crash ends the container (a new one starts next)."""
        if self._process is None or self._process.poll() is not None:
            self._process = self._start()
        process = self._process
        try:
            process.stdin.write(json.dumps({"request_id": request_id, "event": event}) + "\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], self.function.timeout_seconds)
            line = process.stdout.readline() if ready else ""
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            timed_out = process.poll() is None
            self.close()
            message = (
                f"Task timed out after {self.function.timeout_seconds:.2f} seconds"
                if timed_out
                else f"Runtime exited with code {process.returncode}"
            )
            return InvocationOutcome(
                error={
                    "errorType": "Runtime.ExitError" if not timed_out else "TimeoutError",
                    "errorMessage": message,
                }
            )
        answer = json.loads(line)
        return InvocationOutcome(result=answer.get("result"), error=answer.get("error"))

    def close(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None


class ContainerPool:
    """Up to ``function.concurrency`` containers, reused warm between invocations."""

    def __init__(self, function: LocalFunction, log_file) -> None:
        self.function = function
        self._idle: queue.LifoQueue[FunctionContainer] = queue.LifoQueue()
        self._all: list[FunctionContainer] = []
        self._lock = threading.Lock()
        self._log_file = log_file

    def invoke(self, event: object, request_id: str) -> InvocationOutcome:
        container = self._acquire()
        try:
            return container.invoke(event, request_id)
        finally:
            self._idle.put(container)

    def _acquire(self) -> FunctionContainer:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._all) < self.function.concurrency:
                container = FunctionContainer(self.function, self._log_file)
                self._all.append(container)
                return container
        return self._idle.get()

    def close(self) -> None:
        for container in self._all:
            container.close()


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


class LambdaRuntime:
    """Polls the emulation's tables and runs the handlers. ``start()`` / ``stop()``."""

    def __init__(
        self,
        admin: DatabaseSettings,
        functions: Iterable[LocalFunction],
        *,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        poll_interval: float = 0.05,
        log_dir: Path | None = None,
    ) -> None:
        self.admin = admin
        self.functions = {function.name: function for function in functions}
        self.retry_delays = retry_delays
        self.poll_interval = poll_interval
        self.log_dir = Path(log_dir) if log_dir else None
        self._log_files: list = []
        self._pools = {
            name: ContainerPool(f, self._log_for(name)) for name, f in self.functions.items()
        }
        total = sum(f.concurrency for f in self.functions.values()) or 1
        self._executor = ThreadPoolExecutor(max_workers=total + 2, thread_name_prefix="lambda")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._sqs = None
        self._sync_seen: set[str] = set()
        # Event calls this runtime is delivering or recording: never re-leased meanwhile,
        # even when recording the outcome outlasts the lease (the database was away).
        self._delivering: set[int] = set()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Register the functions as deployed, requeue interrupted calls, start polling."""
        with self._db().cursor() as cursor:
            cursor.execute(
                "UPDATE aurora_emulation.invocations SET status = 'pending' "
                "WHERE status = 'running' AND function_name IN %s",
                (tuple(self.functions),),
            )
        emulation.register_functions(
            self._db(), {name: f.arn for name, f in self.functions.items()}
        )
        for target in (self._poll_events, self._poll_sync_requests):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        self._executor.shutdown(wait=True, cancel_futures=True)
        for pool in self._pools.values():
            pool.close()
        for handle in self._log_files:
            handle.close()

    def invoke(self, function_name: str, event: object) -> InvocationOutcome:
        """Invoke a function synchronously (RequestResponse), as API Gateway or an event
        source mapping does."""
        if function_name not in self._pools:
            raise KeyError(f"function {function_name!r} is not served by this runtime")
        return self._pools[function_name].invoke(event, str(uuid.uuid4()))

    def __enter__(self) -> LambdaRuntime:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- Event invocations -----------------------------------------------------------

    def _poll_events(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.dispatch_due_events()
            except pymysql.err.MySQLError as error:  # database restarting: try again soon
                log.warning("event poll failed: %s", error)
                self._forget_connection()
                self._stop.wait(0.5)
                continue
            if not claimed:
                self._stop.wait(self.poll_interval)

    def dispatch_due_events(self) -> int:
        """Claim every due Event call and hand it to a container; return how many."""
        # A claim is a lease: a 'running' call whose lease ran out (its delivery died
        # before recording the outcome, e.g. the database went away) is due again.
        with self._db().cursor() as cursor:
            cursor.execute(
                "SELECT id, function_name, payload, attempts, status "
                "FROM aurora_emulation.invocations "
                "WHERE invocation_type = 'Event' AND status IN ('pending', 'running') "
                "AND next_attempt_at <= UTC_TIMESTAMP(6) AND function_name IN %s "
                "ORDER BY id LIMIT 100",
                (tuple(self.functions),),
            )
            due = cursor.fetchall()
            claimed = 0
            for row_id, function_name, payload, attempts, status in due:
                if row_id in self._delivering:
                    continue
                lease = self.functions[function_name].timeout_seconds + LEASE_MARGIN_SECONDS
                cursor.execute(
                    "UPDATE aurora_emulation.invocations SET status = 'running', "
                    "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND "
                    "WHERE id = %s AND status = %s AND next_attempt_at <= UTC_TIMESTAMP(6)",
                    (int(lease * 1_000_000), row_id, status),
                )
                if cursor.rowcount == 1:
                    claimed += 1
                    self._delivering.add(row_id)
                    self._executor.submit(
                        self._deliver_event, row_id, function_name, payload, attempts
                    )
        return claimed

    def _deliver_event(self, row_id: int, function_name: str, payload: str, attempts: int) -> None:
        """Run one claimed Event call and record its outcome: success, a retry later, or,
        once retries run out, ``failed`` with an on-failure record. Whatever goes wrong while
        delivering is a failed attempt, never a lost lease: a lease runs out only when the
        runtime itself dies (or gives up recording, see :meth:`_record`)."""
        try:
            function = self.functions.get(function_name)
            request_id = str(uuid.uuid4())
            event, outcome = self._attempt(function, function_name, payload, request_id)
            attempts += 1
            if outcome.error is None:
                self._record(row_id, self._finish, "succeeded", attempts, response=outcome.result)
            elif function is not None and attempts <= function.max_retry_attempts:
                delay = self.retry_delays[min(attempts - 1, len(self.retry_delays) - 1)]
                self._record(row_id, self._retry_later, attempts, delay, outcome.error)
            else:
                if function is not None and function.on_failure_queue_url:
                    self._send_failure_record(function, request_id, event, outcome.error, attempts)
                self._record(row_id, self._finish, "failed", attempts, error=outcome.error)
        except Exception:  # the runtime must outlive any one delivery
            log.exception("delivering invocation %s failed", row_id)
            self._forget_connection()
        finally:
            self._delivering.discard(row_id)

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
            return event, self._pools[function_name].invoke(event, request_id)
        except Exception as error:  # a failed attempt, retried like any other
            log.exception("invoking %s for invocation %s failed", function_name, request_id)
            return event, InvocationOutcome(error=runtime_error(error))

    def _send_failure_record(self, function, request_id, event, error, attempts) -> None:
        """Send the on-failure record; a send that fails is logged (the row keeps the error)
        rather than retried forever."""
        record = failure_record(function, request_id, event, error, attempts)
        try:
            self._sqs_client().send_message(
                QueueUrl=function.on_failure_queue_url, MessageBody=json.dumps(record)
            )
        except Exception:
            log.exception("sending the failure record of request %s failed", request_id)

    def _record(self, row_id: int, action, *args, **kwargs) -> None:
        """Write a delivery's outcome with ``action(row_id, *args, **kwargs)``, reconnecting
        and trying again while the database is away: a handler that ran must not run again
        only because its outcome could not be written. After ``RECORD_PATIENCE_SECONDS``
        (or at ``stop()``) it gives up; the lease then runs out and the call is delivered
        again (at least once, as on Lambda)."""
        deadline = time.monotonic() + RECORD_PATIENCE_SECONDS
        while True:
            try:
                action(row_id, *args, **kwargs)
                return
            except (pymysql.err.MySQLError, OSError) as error:
                self._forget_connection()
                if self._stop.is_set() or time.monotonic() >= deadline:
                    raise
                log.warning("recording invocation %s failed, trying again: %s", row_id, error)
                self._stop.wait(RECORD_RETRY_SECONDS)

    def _retry_later(self, row_id: int, attempts: int, delay: float, error: dict) -> None:
        with self._db().cursor() as cursor:
            cursor.execute(
                "UPDATE aurora_emulation.invocations SET status = 'pending', attempts = %s, "
                "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND, last_error = %s "
                "WHERE id = %s",
                (attempts, int(delay * 1_000_000), json.dumps(error), row_id),
            )

    def _finish(self, row_id, status, attempts, response=None, error=None) -> None:
        with self._db().cursor() as cursor:
            cursor.execute(
                "UPDATE aurora_emulation.invocations SET status = %s, attempts = %s, "
                "response = %s, last_error = %s, completed_at = UTC_TIMESTAMP(6) WHERE id = %s",
                (
                    status,
                    attempts,
                    None if response is None else json.dumps(response),
                    None if error is None else json.dumps(error),
                    row_id,
                ),
            )

    # -- RequestResponse invocations -------------------------------------------------

    def _poll_sync_requests(self) -> None:
        while not self._stop.is_set():
            try:
                connection = self._sync_poll_connection()
                with connection.cursor() as cursor:
                    # READ UNCOMMITTED: the request row is not committed while its statement waits.
                    cursor.execute(
                        "SELECT request_id, function_name, function_arn, payload, caller, "
                        "database_name FROM aurora_emulation.sync_requests"
                    )
                    requests = cursor.fetchall()
            except pymysql.err.MySQLError as error:  # database restarting: try again soon
                log.warning("sync poll failed: %s", error)
                self._local.sync_connection = None
                self._stop.wait(0.5)
                continue
            for request in requests:
                # Several runtimes may share a server: each answers only its own functions.
                if request[0] not in self._sync_seen and request[1] in self.functions:
                    self._sync_seen.add(request[0])
                    self._executor.submit(self._answer_sync, *request)
            self._stop.wait(self.poll_interval / 5)

    def _answer_sync(self, request_id, function_name, function_arn, payload, caller, database):
        try:
            function = self.functions[function_name]
            event = json.loads(payload)
            outcome = self._pools[function_name].invoke(event, request_id)
            answer = outcome.result if outcome.error is None else outcome.error
            connection = connect(self.admin, autocommit=True)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO aurora_emulation.sync_responses "
                        "VALUES (%s, %s, UTC_TIMESTAMP(6))",
                        (request_id, json.dumps(answer)),
                    )
                    cursor.execute(
                        "INSERT INTO aurora_emulation.invocations (invocation_type, function_arn, "
                        "function_name, payload, caller, database_name, invoked_at, status, "
                        "attempts, next_attempt_at, response, last_error, completed_at) VALUES "
                        "('RequestResponse', %s, %s, %s, %s, %s, UTC_TIMESTAMP(6), %s, 1, "
                        "UTC_TIMESTAMP(6), %s, %s, UTC_TIMESTAMP(6))",
                        (
                            function_arn,
                            function.name,
                            payload,
                            caller,
                            database,
                            "succeeded" if outcome.error is None else "failed",
                            json.dumps(outcome.result) if outcome.error is None else None,
                            json.dumps(outcome.error) if outcome.error else None,
                        ),
                    )
                    # Signal "answered", and hold the signal until the caller has read it.
                    cursor.execute(
                        "SELECT GET_LOCK(%s, 5)", ("aurora_lambda_sync_done:" + request_id,)
                    )
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        cursor.execute(
                            "SELECT IS_USED_LOCK(%s)", ("aurora_lambda_sync_wait:" + request_id,)
                        )
                        if cursor.fetchone()[0] is None:
                            break
                        time.sleep(0.005)
                    cursor.execute(
                        "SELECT RELEASE_LOCK(%s)", ("aurora_lambda_sync_done:" + request_id,)
                    )
            finally:
                connection.close()
        except Exception:
            log.exception("answering lambda_sync request %s failed", request_id)
        finally:
            # The caller has deleted its request row (before releasing its lock), so the
            # poller cannot see it again: forget it, or the set would only grow.
            self._sync_seen.discard(request_id)

    # -- connections -----------------------------------------------------------------

    def _db(self) -> pymysql.connections.Connection:
        """This thread's connection, reconnected if the server restarted since last use."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            try:
                connection.ping(reconnect=False)
                return connection
            except pymysql.err.MySQLError:
                self._forget_connection()
        connection = connect(self.admin, autocommit=True)
        self._local.connection = connection
        return connection

    def _forget_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def _sync_poll_connection(self) -> pymysql.connections.Connection:
        connection = getattr(self._local, "sync_connection", None)
        if connection is None:
            connection = connect(self.admin, autocommit=True)
            with connection.cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
            self._local.sync_connection = connection
        return connection

    def _sqs_client(self):
        if self._sqs is None:
            self._sqs = boto3.client("sqs")
        return self._sqs

    def _log_for(self, name: str):
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.log_dir / f"{name}.log", "a", encoding="utf-8")  # noqa: SIM115
        self._log_files.append(handle)
        return handle
