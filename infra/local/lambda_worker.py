"""One local Lambda "execution environment": a process that imports one handler and runs
invocations sent to it, one at a time, like a Lambda container.

Run as ``python -m infra.local.lambda_worker HANDLER FUNCTION_NAME ARN TIMEOUT MEMORY``.
Protocol: one JSON request per line on stdin (``{"request_id", "event"}``), one JSON
answer per line on the original stdout (``{"request_id", "result"}`` or
``{"request_id", "error": {"errorType", "errorMessage", "stackTrace"}}``). Whatever the
handler prints goes to stderr, which the runtime keeps as the function's log.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback


class LambdaContext:
    """The attributes of Lambda's context object that handlers (and Powertools) read."""

    def __init__(self, function_name: str, arn: str, timeout: float, memory: int, request_id: str):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_record(error: BaseException) -> dict:
    """Lambda's shape for an unhandled error."""
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(type(error), error, error.__traceback__),
    }


def load_handler(path: str):
    module_name, _, attribute = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def main(argv: list[str]) -> int:
    handler_path, function_name, arn, timeout, memory = argv
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    sys.stdout = sys.stderr  # print() in a handler must not corrupt the protocol
    try:
        handler = load_handler(handler_path)
        init_error = None
    except BaseException as error:  # an init failure fails every invocation, as on Lambda
        handler, init_error = None, error_record(error)
        init_error["errorType"] = "Runtime.ImportModuleError:" + init_error["errorType"]
    for line in sys.stdin:
        request = json.loads(line)
        answer = {"request_id": request["request_id"]}
        if init_error is not None:
            answer["error"] = init_error
        else:
            context = LambdaContext(
                function_name, arn, float(timeout), int(memory), request["request_id"]
            )
            try:
                answer["result"] = handler(request["event"], context)
                json.dumps(answer)
            except Exception as error:
                answer = {"request_id": request["request_id"], "error": error_record(error)}
        protocol.write(json.dumps(answer, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
