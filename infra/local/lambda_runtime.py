"""The local Lambda runtime: polls the calls recorded by the emulated lambda_async /
lambda_sync and hands them to the functions' containers, and serves synchronous
invocations (API Gateway, the event source poller).

This module is the threads and their wiring. Lambda's semantics around an invocation
(Event retries and failure records, leases, answering lambda_sync) are
:mod:`infra.local.lambda_delivery`; the worker processes are
:mod:`infra.local.container_pool`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pymysql

from functions.common.database import DatabaseSettings, connect
from infra.local import emulation
from infra.local.container_pool import ContainerPool, InvocationOutcome, LocalFunction
from infra.local.lambda_api import served_qualifier, split_identifier
from infra.local.lambda_delivery import (
    DEFAULT_RETRY_DELAYS,
    EventDelivery,
    ThreadConnections,
    answer_sync_request,
)
from infra.local.log_limits import OncePerInterval, log_swallowed

log = logging.getLogger(__name__)


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
        schedules: Mapping[str, float] | None = None,
    ) -> None:
        self.admin = admin
        self.functions = {function.name: function for function in functions}
        # function name -> seconds between runs: EventBridge's schedule, locally.
        self.schedules = dict(schedules or {})
        # Invocations each function ran (every kind: Event, RequestResponse, scheduled).
        self.invocation_counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
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
        self._connections = ThreadConnections(admin)
        self._sync_connection: pymysql.connections.Connection | None = None
        self._sync_seen: set[str] = set()
        # What the pollers retry past, each kind logged once a minute (log_limits).
        self._poll_errors = OncePerInterval()
        self.events = EventDelivery(
            self.functions, self._invoke, self._connections, retry_delays, self._stop
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Register the functions as deployed, requeue interrupted calls, start polling."""
        admin = self._connections.get()
        emulation.requeue_interrupted_calls(admin, self.functions)
        emulation.register_functions(admin, {name: f.arn for name, f in self.functions.items()})
        for target in (self._poll_events, self._poll_sync_requests):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)
        for name, seconds in self.schedules.items():
            thread = threading.Thread(
                target=self._run_on_schedule, args=(name, seconds), daemon=True, name=name
            )
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
        source mapping does. ``function_name`` may be qualified (``<name>:live``, an ARN):
        the same handler runs (:func:`~infra.local.lambda_api.served_qualifier`)."""
        name, qualifier = split_identifier(function_name)
        if name not in self._pools or not served_qualifier(qualifier):
            raise KeyError(f"function {function_name!r} is not served by this runtime")
        return self._invoke(name, event, str(uuid.uuid4()))

    def _invoke(self, function_name: str, event: object, request_id: str) -> InvocationOutcome:
        with self._counts_lock:
            self.invocation_counts[function_name] += 1
        return self._pools[function_name].invoke(event, request_id)

    # -- schedules -------------------------------------------------------------------

    def _run_on_schedule(self, function_name: str, seconds: float) -> None:
        """Invoke ``function_name`` every ``seconds`` with EventBridge's scheduled event,
        as the rule does on AWS (a run that takes longer delays the next one)."""
        while not self._stop.wait(seconds):
            outcome = self.invoke(function_name, scheduled_event(self.functions[function_name]))
            if outcome.error is not None:
                # One line, no traceback: e.g. the database is stopped on purpose.
                log.warning(
                    "scheduled run of %s failed: %s: %s",
                    function_name,
                    outcome.error.get("errorType"),
                    str(outcome.error.get("errorMessage"))[:200],
                )

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
                log_swallowed(log, self._poll_errors, error, "event poll failed")
                self._connections.discard()
                self._stop.wait(0.5)
                continue
            if not claimed:
                self._stop.wait(self.poll_interval)

    def dispatch_due_events(self) -> int:
        """Claim every due Event call and hand it to a container; return how many."""
        claimed = self.events.claim_due()
        for call in claimed:
            self._executor.submit(self.events.deliver, *call)
        return len(claimed)

    # -- RequestResponse invocations -------------------------------------------------

    def _poll_sync_requests(self) -> None:
        while not self._stop.is_set():
            try:
                requests = emulation.sync_requests(self._sync_reader())
            except pymysql.err.MySQLError as error:  # database restarting: try again soon
                log_swallowed(log, self._poll_errors, error, "sync poll failed")
                self._sync_connection = None
                self._stop.wait(0.5)
                continue
            for request in requests:
                # Several runtimes may share a server: each answers only its own functions.
                if request[0] not in self._sync_seen and request[1] in self.functions:
                    self._sync_seen.add(request[0])
                    self._executor.submit(self._answer_sync, request)
            self._stop.wait(self.poll_interval / 5)

    def _answer_sync(self, request: tuple) -> None:
        try:
            answer_sync_request(self.admin, self._invoke, request)
        except Exception:
            log.exception("answering lambda_sync request %s failed", request[0])
        finally:
            # The caller has deleted its request row (before releasing its lock), so the
            # poller cannot see it again: forget it, or the set would only grow.
            self._sync_seen.discard(request[0])

    def _sync_reader(self) -> pymysql.connections.Connection:
        """The sync poller's own connection (only its thread uses it), reading uncommitted."""
        if self._sync_connection is None:
            connection = connect(self.admin, autocommit=True)
            emulation.prepare_sync_reader(connection)
            self._sync_connection = connection
        return self._sync_connection

    # -- logs ------------------------------------------------------------------------

    def _log_for(self, name: str):
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.log_dir / f"{name}.log", "a", encoding="utf-8")  # noqa: SIM115
        self._log_files.append(handle)
        return handle


def scheduled_event(function: LocalFunction) -> dict:
    """The event an EventBridge schedule rule sends."""
    region = function.arn.split(":")[3] if function.arn.count(":") >= 6 else "us-east-1"
    account = function.arn.split(":")[4] if function.arn.count(":") >= 6 else "000000000000"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{function.name}-schedule"],
        "detail": {},
    }
