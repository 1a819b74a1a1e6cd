"""The commands the doctor's findings suggest, built from what is deployed: each is what a
user would type, and the tests run them (``tests/infra/aws/conftest.py``: ``run_fix``)."""

from __future__ import annotations

import shlex

from infra.aws.aurora.config import AuroraAccessConfig
from infra.aws.doctor.diagnosis import aws_command
from infra.aws.function_state import published_versions


def apply_command(config: AuroraAccessConfig) -> str:
    """``aurora-events aurora apply`` with this configuration."""
    words = [
        "aurora-events",
        "aurora",
        "apply",
        "--cluster",
        config.cluster,
        "--prefix",
        config.prefix,
    ]
    for arn in config.function_arns:
        words += ["--function-arn", arn]
    if config.activate_all_roles_on_login:
        words.append("--activate-all-roles-on-login")
    return shlex.join(words)


def deploy_apply_command(prefix: str) -> str:
    """``aurora-events deploy apply``: the event path as the catalog declares it (with the
    settings the user deploys with: the same ``--config``)."""
    return shlex.join(["aurora-events", "deploy", "apply", "--prefix", prefix])


def drain_grant_command(user: str, schema: str) -> str:
    """``aurora-events grant``: the drain's table privileges in ``schema`` (run with an
    admin URL, after the migrations)."""
    return shlex.join(["aurora-events", "grant", "--drain-user", user, "--database", schema])


def alias_fix(
    lambda_client, function: str, alias: str, prefix: str, *, ours: bool = True
) -> tuple[str, str]:
    """``(fix, kind)`` for a missing alias: point it at the newest published version; with
    none published, let ``deploy apply`` publish one and create the alias (``ours``: a
    function of this deployment), or publish one by hand."""
    versions = published_versions(lambda_client, function)
    where = ["--region", function.split(":")[3]] if function.startswith("arn:") else []
    if not versions:
        if ours:
            return deploy_apply_command(prefix), "aurora-events"
        publish = aws_command("lambda", "publish-version", *where, "--function-name", function)
        return (
            f"{publish}  # then: aws lambda create-alias --function-name {function} --name "
            f"{alias} --function-version <the version it printed>",
            "manual",
        )
    command = aws_command(
        "lambda",
        "create-alias",
        *where,
        "--function-name",
        function,
        "--name",
        alias,
        "--function-version",
        versions[-1],
    )
    return command, "aws"
