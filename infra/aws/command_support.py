"""What the AWS subcommands (:mod:`infra.aws.commands`) share: the exit codes, the chain's
configuration from the arguments, the admin URL and its connection, the translation of bad
input into exit code 2, and carrying out a plan's changes with what was done printed."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable

import boto3
import pymysql

from infra.aws.aurora.config import AuroraAccessConfig, AuroraAccessError
from infra.aws.changes import Change, ChangeFailed, Outcome, PlanError, apply_changes
from infra.aws.function_versions import RollbackError
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.packaging import PackagingError
from infra.catalog import FUNCTIONS, Deployment, SettingError
from infra.database import grants as db_grants

OK, PROBLEMS, BAD_INPUT = 0, 1, 2


def catalog_function_arns(prefix: str) -> list[str]:
    """The deployed ARNs (``<prefix>-<name>``) of the catalog's functions Aurora invokes."""
    lambda_client = boto3.client("lambda")
    deployment = Deployment(prefix=prefix)
    arns = []
    for spec in (spec for spec in FUNCTIONS if spec.invoked_by_aurora):
        name = deployment.resource_name(spec.name)
        try:
            arns.append(
                lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
            )
        except lambda_client.exceptions.ResourceNotFoundException:
            raise AuroraAccessError(
                f"function {name} is not deployed; deploy it, or name the functions with "
                "--function-arn"
            ) from None
    return arns


def access_config(args) -> AuroraAccessConfig:
    return AuroraAccessConfig(
        cluster=args.cluster,
        function_arns=tuple(args.function_arn or catalog_function_arns(args.prefix)),
        prefix=args.prefix,
        activate_all_roles_on_login=getattr(args, "activate_all_roles_on_login", False),
    )


ADMIN_URL_VARIABLE = "AURORA_EVENTS_ADMIN_URL"


def add_admin_url_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """``--admin-url``, which may come from ``AURORA_EVENTS_ADMIN_URL`` instead: a password
    on the command line shows in ``ps`` and in the shell's history."""
    parser.add_argument(
        "--admin-url",
        help=f"{example} (or set {ADMIN_URL_VARIABLE}: a password in an argument shows in ps)",
    )


def admin_url(args) -> str:
    """The admin URL from ``--admin-url`` or the environment; a clear error without either."""
    from functions.common.config import ConfigurationError

    url = args.admin_url or os.environ.get(ADMIN_URL_VARIABLE)
    if not url:
        raise ConfigurationError(f"give --admin-url, or set {ADMIN_URL_VARIABLE}")
    return url


def connect_admin(url: str) -> pymysql.connections.Connection:
    from functions.common.database import connect, settings_from_url

    return connect(settings_from_url(url))  # DATABASE_TLS / DATABASE_TLS_CA apply


def exit_codes(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad input (an unknown cluster, a malformed URL or ARN, a missing account) exits 2."""

    @functools.wraps(command)
    def run(args) -> int:
        from functions.common.config import ConfigurationError

        try:
            return command(args)
        except (
            AuroraAccessError,
            db_grants.GrantError,
            ConfigurationError,
            PlanError,
            ForeignResourceError,
            PackagingError,
            RollbackError,
            SettingError,
        ) as error:
            print(f"aurora-events: {error}", file=sys.stderr)
            return BAD_INPUT
        except pymysql.err.OperationalError as error:
            if error.args and error.args[0] in (1045, 2003, 2005):  # denied, unreachable
                print(f"aurora-events: cannot connect to the database: {error}", file=sys.stderr)
                return BAD_INPUT
            raise

    return run


def carry_out(changes: list[Change]) -> Outcome:
    """Apply ``changes``; when one fails, print those made before it (and what the endpoint
    could not do), then let the change's own error end the command."""
    try:
        return apply_changes(changes)
    except ChangeFailed as failed:
        print_outcome(failed.outcome)
        print(f"FAILED     {failed.change.describe()}")
        raise failed.__cause__ from None


def print_outcome(outcome: Outcome) -> None:
    for change in outcome.done:
        print(change.describe())
    for change, reason in outcome.unsupported:
        print(f"NOT DONE   {change.describe()}: {reason}")
