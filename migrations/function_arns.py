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
from dataclasses import dataclass

from infra.catalog import FUNCTIONS, LIVE_ALIAS, Deployment

# Matched with fullmatch: "$" would also accept a trailing newline. ASCII classes only
# (\d and \w would take any script's digits and letters).
_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12})"
    r":function:(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>[A-Za-z0-9_$-]{1,128}))?"
)


OVERRIDE_PREFIX = "AURORA_EVENTS_FUNCTION_ARN_"


class FunctionArnError(RuntimeError):
    """The function a trigger names cannot be found."""


@dataclass(frozen=True)
class FunctionArn:
    """A Lambda function ARN, unqualified or with a version or an alias
    (``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]``).

    The one reading of an ARN in the project: the migrations, the doctor and Aurora's
    access all parse and print ARNs through it. Account, region and qualifier belong to
    the environment; a trigger's meaning is the function's name."""

    partition: str
    region: str
    account: str
    name: str
    qualifier: str | None = None

    @classmethod
    def parse(cls, text: str) -> FunctionArn:
        """``text`` as an ARN; :class:`FunctionArnError` if it is not a whole one."""
        found = cls.find(text)
        if found is None:
            raise FunctionArnError(f"{text!r} is not a Lambda function ARN")
        return found

    @classmethod
    def find(cls, text: object) -> FunctionArn | None:
        """``text`` as an ARN, or None when it is not one."""
        match = _ARN.fullmatch(text) if isinstance(text, str) else None
        return cls(**match.groupdict()) if match else None

    def __str__(self) -> str:
        return self.function_arn + (f":{self.qualifier}" if self.qualifier else "")

    @property
    def arn(self) -> str:
        return str(self)

    @property
    def unqualified(self) -> FunctionArn:
        """The function itself (what Aurora's policy names, with ``:*`` for the rest)."""
        if self.qualifier is None:
            return self
        return FunctionArn(self.partition, self.region, self.account, self.name)

    @property
    def function_arn(self) -> str:
        """The unqualified ARN as text."""
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{self.name}"

    @property
    def short_name(self) -> str:
        """``shop-events-notify:live``: the name and qualifier, without account or region."""
        return self.name + (f":{self.qualifier}" if self.qualifier else "")


def catalog_function(arn: FunctionArn, environ: Mapping[str, str] | None = None) -> str:
    """The catalog name a trigger calling ``arn`` names: the function whose
    ``AURORA_EVENTS_FUNCTION_ARN_<NAME>`` is that ARN (qualifier and all), else ``<name>``
    of the deployment's ``<prefix>-<name>``, else the ARN itself (another deployment's
    function, or one outside the catalog: a revision may name a full ARN)."""
    environ = os.environ if environ is None else environ
    catalog = {override_variable(spec.name): spec.name for spec in FUNCTIONS}
    for variable, value in sorted(environ.items()):
        if variable.startswith(OVERRIDE_PREFIX) and FunctionArn.find(value) == arn:
            return catalog.get(variable, variable.removeprefix(OVERRIDE_PREFIX).lower())
    head = Deployment.from_env(environ).prefix + "-"
    if arn.name.startswith(head) and len(arn.name) > len(head):
        return arn.name.removeprefix(head)
    return arn.arn


def override_variable(function: str) -> str:
    return OVERRIDE_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", function).upper()


def checked_arn(candidate: str) -> str:
    """``candidate`` if it is a whole Lambda function ARN, else :class:`FunctionArnError`."""
    return FunctionArn.parse(candidate).arn


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
