"""Which function a trigger calls: resolved to an ARN when the migration runs.

A revision names a function of the catalog (``"notify"``), never an ARN with an account
id or region in it. At upgrade time the name becomes an ARN, first match wins:

1. ``AURORA_EVENTS_FUNCTION_ARN_<NAME>`` (e.g. ``AURORA_EVENTS_FUNCTION_ARN_NOTIFY``):
   point a trigger at another function without touching any revision;
2. the deployed function ``<prefix>-<name>``'s alias ``live``
   (:data:`infra.catalog.LIVE_ALIAS`), ``arn:...:function:<prefix>-<name>:live``, as
   Lambda's ``GetAlias`` names it in the current account and region (boto3's standard
   chain; ``AWS_ENDPOINT_URL`` locally). The trigger then calls whichever version the
   alias points at: a deploy moves it, ``aurora-events deploy rollback`` moves it back.
   Triggers installed before the alias existed call the function unqualified
   (``$LATEST``), which keeps working; Aurora's invoke policy allows both forms.

A full ARN written in the revision is used as it is (not recommended). Whatever its
source, the ARN must be a whole Lambda function ARN (:func:`checked_arn`), so it can
go into a trigger's SQL as a plain string literal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from infra.catalog import LIVE_ALIAS, Deployment

# Matched with fullmatch: "$" would also accept a trailing newline. ASCII classes only
# (\d and \w would take any script's digits and letters).
_ARN = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}"
    r"(:[A-Za-z0-9_$-]{1,128})?"
)


class FunctionArnError(RuntimeError):
    """The function a trigger names cannot be found."""


def override_variable(function: str) -> str:
    return "AURORA_EVENTS_FUNCTION_ARN_" + re.sub(r"[^A-Za-z0-9]", "_", function).upper()


def checked_arn(candidate: str) -> str:
    """``candidate`` if it is a whole Lambda function ARN, else :class:`FunctionArnError`."""
    if not isinstance(candidate, str) or not _ARN.fullmatch(candidate):
        raise FunctionArnError(f"{candidate!r} is not a Lambda function ARN")
    return candidate


def resolve_function_arn(
    function: str, environ: Mapping[str, str] | None = None, lambda_client=None
) -> str:
    """Return the ARN that a trigger for ``function`` should call (see module doc)."""
    environ = os.environ if environ is None else environ
    candidate = environ.get(override_variable(function)) or (
        function if function.startswith("arn:") else None
    )
    if candidate:
        return checked_arn(candidate)
    deployed = Deployment.from_env(environ).resource_name(function)
    if lambda_client is None:
        import boto3

        lambda_client = boto3.client("lambda")
    try:
        arn = lambda_client.get_alias(FunctionName=deployed, Name=LIVE_ALIAS)["AliasArn"]
    except lambda_client.exceptions.ResourceNotFoundException:
        raise FunctionArnError(_not_deployed(function, deployed, lambda_client)) from None
    return checked_arn(arn)


def _not_deployed(function: str, deployed: str, lambda_client) -> str:
    """Why ``deployed``'s alias cannot be found: no function, or no alias yet."""
    region = lambda_client.meta.region_name
    try:
        lambda_client.get_function(FunctionName=deployed)
    except lambda_client.exceptions.ResourceNotFoundException:
        return (
            f"function {function!r} should be deployed as {deployed!r}, but Lambda in {region} "
            f"has no such function: deploy it first (locally: aurora-events stack start), "
            f"or set {override_variable(function)} to the ARN to call"
        )
    return (
        f"function {deployed!r} in {region} has no alias {LIVE_ALIAS!r}, which triggers call: "
        f"run aurora-events deploy apply (it publishes a version and creates the alias), "
        f"or set {override_variable(function)} to the ARN to call"
    )
