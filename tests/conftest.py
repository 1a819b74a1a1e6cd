"""Shared fixtures: one local stack per test session (a real MariaDB server process and a
moto server, both started here), and a fresh database for each test that wants one."""

from __future__ import annotations

import importlib.util
import itertools
from dataclasses import dataclass

import boto3
import pymysql
import pytest

import sql
from functions.common.database import connect, parse_database_url
from infra.local import emulation
from infra.local.container_pool import LocalFunction
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.stack import LocalStack, StackSettings
from migrations.row_event_sql import create_outbox_statements

FAST_RETRIES = (0.1, 0.2)
# The relay's schedule every second (the backstop: 1 minute on AWS), and a short backoff
# that parks an event after 3 attempts (tests/infra/test_outbox_path.py).
TEST_STACK_SETTINGS = StackSettings(
    FAST_RETRIES,
    relay_schedule_seconds=1.0,
    relay_environment={
        "RELAY_MAX_ATTEMPTS": "3",
        "RELAY_BACKOFF_BASE_SECONDS": "0.2",
        "RELAY_BACKOFF_MAX_SECONDS": "0.5",
    },
)
_database_numbers = itertools.count(1)
# The suite's longest files, started first: `make test` hands whole files to its two
# processes in collection order, and a long file handed out last is the run's tail.
LONGEST_FIRST = ("tests/migrations/test_outbox_under_load.py", "tests/infra/test_cli.py")


# The files whose tests share the session stack's ingest path (its queue, poller, API and
# migrated database) and leave it as they found it only for the next of them in this order:
# under `make test`'s two processes they run as one unit, in one process, in this order
# (as in one process). A run that split them failed six tests waiting for the ingest queue
# to empty; which file left it busy was not found.
SHARED_STACK_FILES = (
    "tests/bench/test_pipeline.py",
    "tests/infra/test_accounts.py",
    "tests/infra/test_aws_server.py",
    "tests/infra/test_drain_lock_conflicts.py",
    "tests/infra/test_ingest_path.py",
    "tests/infra/test_ingest_trigger_errors.py",
    "tests/infra/test_local_api_gateway.py",
    "tests/infra/test_outbox_doorbell.py",
    "tests/infra/test_outbox_path.py",
    "tests/infra/test_release.py",
    "tests/infra/test_stack_doctor.py",
)


def pytest_collection_modifyitems(items) -> None:
    rank = {path: position for position, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


if importlib.util.find_spec("xdist") is not None:
    from xdist.scheduler import LoadFileScheduling

    class SharedStackTogether(LoadFileScheduling):
        """``--dist loadfile``, but the :data:`SHARED_STACK_FILES` are one unit of work."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::")[0]
            return "shared-stack" if path in SHARED_STACK_FILES else path

    def pytest_xdist_make_scheduler(config, log):
        return SharedStackTogether(config, log)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The local stack: MariaDB + moto + emulation + notification path + runtime."""
    with LocalStack(tmp_path_factory.mktemp("stack") / "s", TEST_STACK_SETTINGS) as local:
        yield local


@pytest.fixture(scope="session")
def migrated_stack(stack) -> LocalStack:
    """The stack, its own database (the one the drain's secret names) migrated to head once
    per session, and the drain's and the relay's accounts granted their tables.

    Shared: for tests that read it or add rows they own (keys or ids of their own). A test
    that changes its schema or needs empty tables takes a ``database`` of its own."""
    stack.migrate()
    return stack


@pytest.fixture
def admin(stack):
    connection = stack.db.connect_root()
    yield connection
    connection.close()


@dataclass
class Database:
    name: str
    url: str

    def connect(self, **options) -> pymysql.connections.Connection:
        return connect(parse_database_url(self.url), **options)


@pytest.fixture
def database(stack) -> Database:
    """A new, empty database for this test; the app user owns it and holds the Lambda role."""
    name = f"t{next(_database_numbers)}"
    return Database(name, stack.create_database(name))


@pytest.fixture
def outbox(database) -> Database:
    """The test's database with the outbox table, written directly (no trigger)."""
    with database.connect().cursor() as cursor:
        for statement in create_outbox_statements():
            cursor.execute(statement)
    return database


@pytest.fixture
def ordered_outbox_without_hold_counter(outbox) -> Database:
    """The test's outbox with revision 0008's ordering key (written directly, no trigger),
    as at revision 0009."""
    with outbox.connect().cursor() as cursor:
        for statement in sql.render("outbox/add_ordering_key.sql"):
            cursor.execute(statement)
    return outbox


@pytest.fixture
def ordered_outbox(ordered_outbox_without_hold_counter) -> Database:
    """The test's ordered outbox with revision 0010's hold counter, as at head."""
    with ordered_outbox_without_hold_counter.connect().cursor() as cursor:
        for statement in sql.render("outbox/create_hold_counter.sql"):
            cursor.execute(statement)
    return ordered_outbox_without_hold_counter


@pytest.fixture(scope="session")
def account_id(stack) -> str:
    return boto3.client("sts").get_caller_identity()["Account"]


@dataclass
class TestFunctions:
    """Functions served by a second runtime next to the stack's: echo, fails, slow."""

    arns: dict[str, str]
    failure_queue_url: str


@pytest.fixture(scope="session")
def test_functions(stack, account_id, tmp_path_factory) -> TestFunctions:
    sqs = boto3.client("sqs")
    failure_queue_url = sqs.create_queue(QueueName="test-failures")["QueueUrl"]
    region = boto3.session.Session().region_name

    def local(name: str, handler: str, **settings) -> LocalFunction:
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
        return LocalFunction(
            name=name,
            arn=arn,
            handler=handler,
            on_failure_queue_url=failure_queue_url,
            **settings,
        )

    functions = [
        local("test-echo", "tests.lambda_handlers.echo"),
        local("test-fails", "tests.lambda_handlers.always_fails"),
        local("test-slow", "tests.lambda_handlers.sleeps", timeout_seconds=0.5),
    ]
    runtime = LambdaRuntime(
        stack.admin_settings(),
        functions,
        retry_delays=FAST_RETRIES,
        log_dir=tmp_path_factory.mktemp("test-function-logs"),
    )
    runtime.start()
    yield TestFunctions({f.name: f.arn for f in functions}, failure_queue_url)
    runtime.stop()


@pytest.fixture
def sync_timeout(admin):
    """Set lambda_sync's wait for one test; put the default back afterwards."""
    yield lambda seconds: emulation.set_sync_timeout(admin, seconds)
    emulation.set_sync_timeout(admin, 30)
