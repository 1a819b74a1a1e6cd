"""Fixtures for Aurora's access to Lambda: a fresh Aurora MySQL cluster on moto per test,
unique names (moto's IAM is shared by the whole session), and ways to run the commands a
doctor finding suggests; event paths: one of its own per test that creates or destroys one,
and one applied deployment per module for the tests that only read it or put back what
they change."""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
import pytest
from botocore import xform_name

from infra.aws.aurora.config import AuroraAccessConfig
from infra.aws.changes import Change, Outcome, apply_changes, describe_plan
from infra.aws.commands import register
from infra.aws.resources import order
from infra.aws.resources.context import Context
from infra.aws.settings import resolve_settings
from infra.local import emulation

V3_ENGINE_VERSION = "8.0.mysql_aurora.3.05.2"
V2_ENGINE_VERSION = "5.7.mysql_aurora.2.11.2"
# A deployment whose drain and relay run in a VPC (moto does not check the ids).
VPC_OPTIONS = {"subnet_ids": ("subnet-0aa", "subnet-0bb"), "security_group_ids": ("sg-0cc",)}
_numbers = itertools.count(1)


def unique(stem: str) -> str:
    return f"{stem}{next(_numbers)}"


def create_cluster(
    identifier: str,
    engine_version: str = V3_ENGINE_VERSION,
    region: str | None = None,
    instances: int = 1,
    **options,
) -> dict:
    """An Aurora MySQL cluster (and its instances) on moto."""
    rds = boto3.client("rds", region_name=region)
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-mysql",
        EngineVersion=engine_version,
        MasterUsername="admin",
        MasterUserPassword="not-a-secret-1",
        **options,
    )["DBCluster"]
    for number in range(instances):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{identifier}-{number}",
            DBInstanceClass="db.r6g.large",
            Engine="aurora-mysql",
            DBClusterIdentifier=identifier,
        )
    return cluster


def describe_cluster(identifier: str, region: str | None = None) -> dict:
    return boto3.client("rds", region_name=region).describe_db_clusters(
        DBClusterIdentifier=identifier
    )["DBClusters"][0]


@pytest.fixture
def function_arns(stack) -> tuple[str, ...]:
    """The catalog's functions, deployed on moto by the stack."""
    return (stack.resources.function_arns["notify"], stack.resources.function_arns["email"])


@pytest.fixture
def cluster(stack) -> str:
    identifier = unique("cluster")
    create_cluster(identifier)
    return identifier


@pytest.fixture
def config(cluster, function_arns) -> AuroraAccessConfig:
    return AuroraAccessConfig(cluster=cluster, function_arns=function_arns, prefix=unique("t"))


@pytest.fixture
def emulated_v2(admin):
    """The emulation imitates Aurora v2 for this test; v3 again afterwards."""
    emulation.set_emulated_aurora_version(admin, 2)
    yield
    emulation.set_emulated_aurora_version(admin, 3)


# -- running suggested fixes -------------------------------------------------------------


def run_aws_cli(command: str):
    """Run an ``aws <service> <operation> --option value ...`` line through boto3.

    Option names are mapped to the API's members the way the AWS CLI maps them
    (``xform_name``), and values by the member's shape: strings as given, lists of strings
    as the words that follow, structures, maps and lists of structures as JSON, integers as
    numbers, booleans as flags.
    An option the API does not have fails the test: the suggested command would fail too.
    """
    words = shlex.split(command)
    assert words[0] == "aws", command
    service, operation, words = words[1], words[2], words[3:]
    options: dict[str, list[str]] = {}
    for word in words:
        if word.startswith("--"):
            current = options.setdefault(word[2:], [])
        else:
            current.append(word)
    region = options.pop("region", [None])[0]
    client = boto3.client(service, region_name=region)
    model = client.meta.service_model
    names = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in names, f"the {service} API has no operation {operation}"
    shape = model.operation_model(names[operation]).input_shape
    members = {xform_name(name, "-"): (name, member) for name, member in shape.members.items()}
    arguments = {}
    for option, values in options.items():
        assert option in members, f"{service} {operation} has no option --{option}"
        name, member = members[option]
        if member.type_name == "boolean":
            arguments[name] = True
        elif member.type_name == "integer":
            (arguments[name],) = map(int, values)
        elif member.type_name == "list" and member.member.type_name == "string":
            arguments[name] = values
        elif member.type_name in ("list", "structure", "map"):
            arguments[name] = json.loads(values[0])
        else:
            (arguments[name],) = values
    return getattr(client, xform_name(names[operation]))(**arguments)


def run_aurora_events(command: str) -> int:
    """Run an ``aurora-events ...`` line through the subcommands :func:`register` adds."""
    words = shlex.split(command)
    assert words[0] == "aurora-events", command
    parser = argparse.ArgumentParser(prog="aurora-events")
    register(parser.add_subparsers(dest="command", required=True), resolve_settings({}))
    args = parser.parse_args(words[1:])
    return args.run(args)


def run_fix(finding, admin) -> None:
    """Carry out a doctor finding's fix the way a user would."""
    if finding.fix_kind == "aws":
        for line in finding.fix.splitlines():
            run_aws_cli(line)
    elif finding.fix_kind == "aurora-events":
        assert run_aurora_events(finding.fix) == 0
    elif finding.fix_kind == "sql":
        with admin.cursor() as cursor:
            for statement in finding.fix.splitlines():
                cursor.execute(statement.rstrip(";"))
    else:
        pytest.fail(f"no command to run: {finding.fix}")


@pytest.fixture
def path(stack):
    """An event path with a prefix (and database secrets) of its own; destroyed after."""
    from tests.infra.aws.test_event_path import new_path

    event_path = new_path()
    yield event_path
    apply_changes(order.plan_destroy(event_path))


# -- one deployment per module -----------------------------------------------------------
# Applying a whole event path on moto and destroying it takes seconds. Tests that only read
# a deployment share one per module; a test that changes it borrows it through a fixture
# that applies its plan afterwards (``*_to_change``), so the next test finds it as
# declared whatever this one did or failed to do. Tests that create, destroy or configure
# a deployment differently keep one of their own (``path``).


@dataclass
class Deployed:
    """An event path applied from nothing, shared by one module's tests."""

    path: Context
    first_plan: list[Change]  # what plan() listed before anything of it existed
    first_apply: Outcome  # what applying that plan did


@contextmanager
def deployment(**options) -> Iterator[Deployed]:
    """A new event path (a prefix and secrets of its own), applied; destroyed after.

    On the way out it must still be as declared: a test that changed the shared deployment
    without putting it back fails here, before it misleads the module's next tests."""
    from tests.infra.aws.test_event_path import new_path

    path = new_path(**options)
    try:
        first_plan = order.plan(path)
        yield Deployed(path, first_plan, apply_changes(first_plan))
        left = order.plan(path)
        assert left == [], (
            f"a test changed the shared deployment {path.deployment.prefix} and did not put "
            f"it back:\n{describe_plan(left)}"
        )
    finally:
        apply_changes(order.plan_destroy(path))


def lend(shared: Deployed) -> Iterator[Context]:
    """The shared deployment for one test that changes it; its plan applied after the test
    puts back what the test changed (and left, if it failed)."""
    yield shared.path
    apply_changes(order.plan(shared.path))


@pytest.fixture(scope="module")
def deployed(stack) -> Iterator[Deployed]:
    """This module's deployment with the default settings, for tests that only read it."""
    with deployment() as shared:
        yield shared


@pytest.fixture
def deployed_to_change(deployed) -> Iterator[Context]:
    """``deployed`` for a test that changes it; put back as declared after."""
    yield from lend(deployed)


@pytest.fixture(scope="module")
def deployed_in_vpc(stack) -> Iterator[Deployed]:
    """This module's deployment whose drain and relay run in a VPC (moto does not check the
    ids), for tests that only read it."""
    with deployment(**VPC_OPTIONS) as shared:
        yield shared


@pytest.fixture
def deployed_in_vpc_to_change(deployed_in_vpc) -> Iterator[Context]:
    """``deployed_in_vpc`` for a test that changes it; put back as declared after."""
    yield from lend(deployed_in_vpc)
