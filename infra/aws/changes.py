"""Plans: what a converge would change, as a list of :class:`Change` that can be printed
(``plan``) or carried out (``apply``). Every provisioning module builds its plan by reading
the current state and comparing it with the desired one, so a second ``apply`` finds
nothing to do, and a ``plan`` after a manual change shows exactly that drift.

:func:`apply_changes` is the one executor: the event path, Aurora's chain and the local
stack all carry out their plans through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError


class PlanError(RuntimeError):
    """The deployment settings do not allow a plan (something required is missing)."""


@dataclass(frozen=True)
class Change:
    """One change to one resource. ``run`` does it; the rest describes it."""

    resource: str  # kind and name, e.g. "iam role aurora-events-aurora-lambda"
    action: str  # "create", "update", "delete", "associate", "set", ...
    detail: str = ""
    run: Callable[[], object] = field(default=lambda: None, compare=False, repr=False)

    def describe(self) -> str:
        return f"{self.action:10} {self.resource}" + (f": {self.detail}" if self.detail else "")


def describe_plan(changes: Iterable[Change]) -> str:
    """The plan as text; says so when there is nothing to do."""
    lines = [change.describe() for change in changes]
    return "\n".join(lines) if lines else "no changes: everything is as declared"


# -- calls that an endpoint may lack -----------------------------------------------------


class UnsupportedOperation(RuntimeError):
    """The AWS endpoint (a local emulator) does not implement an API this change needs."""


def _is_aws_endpoint(endpoint_url: str) -> bool:
    host = endpoint_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _is_html_server_error(error: ClientError) -> bool:
    """A 500 whose body is an HTML page: how moto's server reports an unimplemented API."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = error.response.get("Error", {}).get("Message", "")
    return status == 500 and message.lstrip().lower().startswith("<!doctype html")


def call_unless_unsupported(client, operation: str, call: Callable[[], object]) -> object:
    """Run ``call`` (an operation of ``client``); when the endpoint lacks ``operation``,
    raise :class:`UnsupportedOperation`.

    moto answers an API it does not implement with HTTP 500 and an HTML page (botocore:
    ResponseParserError; for JSON-over-REST services such as API Gateway v2, a ClientError
    whose message is that page), or NotImplementedError in-process. From AWS's own
    endpoints the error is raised as is: there it is a real failure, not a missing API.
    """
    try:
        return call()
    except NotImplementedError as error:
        raise UnsupportedOperation(
            f"{operation} is not implemented by the AWS endpoint (in-process); "
            "on AWS this change is made"
        ) from error
    except (ResponseParserError, ClientError) as error:
        endpoint = client.meta.endpoint_url
        if _is_aws_endpoint(endpoint) or (
            isinstance(error, ClientError) and not _is_html_server_error(error)
        ):
            raise
        raise UnsupportedOperation(
            f"{operation} is not implemented by the AWS endpoint {endpoint}; "
            "on AWS this change is made"
        ) from error


# -- the executor ------------------------------------------------------------------------


@dataclass
class Outcome:
    """What :func:`apply_changes` did, and what the endpoint could not do."""

    done: list[Change] = field(default_factory=list)
    unsupported: list[tuple[Change, str]] = field(default_factory=list)


class ChangeFailed(RuntimeError):
    """A change failed after others were made: ``outcome`` says which were (the cause is
    the change's own error), so a re-run or a manual clean-up knows where things stand."""

    def __init__(self, change: Change, outcome: Outcome, error: BaseException) -> None:
        super().__init__(
            f"{change.describe()} failed ({type(error).__name__}: {error}); "
            f"{len(outcome.done)} change(s) made before it"
        )
        self.change = change
        self.outcome = outcome


def apply_changes(changes: Iterable[Change]) -> Outcome:
    """Run ``changes`` in order. A change the endpoint does not support is noted and the
    rest go on; any other failure stops the run with :class:`ChangeFailed`, which records
    what was done before it."""
    outcome = Outcome()
    for change in changes:
        try:
            change.run()
        except UnsupportedOperation as error:
            outcome.unsupported.append((change, str(error)))
            continue
        except Exception as error:
            raise ChangeFailed(change, outcome, error) from error
        outcome.done.append(change)
    return outcome


# -- changes AWS completes later ---------------------------------------------------------


def wait_until(
    done: Callable[[], bool], what: str, *, timeout_seconds: float = 1200, every_seconds: float = 10
) -> None:
    """Return once ``done()`` is true (at once if it already is); :class:`TimeoutError` naming
    ``what`` after ``timeout_seconds``. For the changes AWS finishes after its call returns
    (an RDS Proxy becoming available, a VPC endpoint's network interfaces going away)."""
    deadline = time.monotonic() + timeout_seconds
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout_seconds:.0f} s")
        time.sleep(every_seconds)
