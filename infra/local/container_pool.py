"""The process pool of the local Lambda runtime: each function's containers.

A container is one worker process (``infra.local.lambda_worker``) with the function's
environment: the handler module is imported once and serves one invocation at a time.
A function gets up to ``concurrency`` containers, reused warm; a timeout or crash ends
its container, and a new one starts on the next invocation. What Lambda does around an
invocation (retries, failure records, answering callers) is
:mod:`infra.local.lambda_delivery`.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


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
    """What one invocation gave: the result, or Lambda's error object."""

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
