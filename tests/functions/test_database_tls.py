"""DATABASE_TLS / DATABASE_TLS_CA: a client told to use TLS never talks to the database in
plaintext, whichever client it is (migrations, drain, relay, CLI): over TLS to a server
that serves it, its certificate checked; refused by a server that cannot give TLS (the
test session's real MariaDB server, which offers none), which counts as unavailable (the
batch waits in the queue), not as bad data."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import boto3
import pymysql
import pytest
import sqlalchemy.exc
from alembic.script import ScriptDirectory

from functions.common.config import ConfigurationError
from functions.common.database import (
    connect,
    is_retryable_later,
    parse_database_url,
    settings_from_env,
    tls_from_env,
)
from functions.common.queue_messages import message_body, queued_row
from functions.common.resources import resource_named
from infra.aws.dependency_layer import (
    DATABASE_CA_IN_LAYER,
    DATABASE_CA_ON_LAMBDA,
    DependencyLayer,
)
from infra.aws.packaging import IndexUnreachable
from infra.aws.resources.context import Context, EventPathOptions
from infra.aws.resources.functions import Functions
from infra.aws.resources.layer import Layer
from infra.catalog import FUNCTIONS, Deployment, SettingError, function_spec, resolve_environment
from infra.local.container_pool import FunctionContainer, InvocationOutcome, LocalFunction
from infra.local.event_source import sqs_event
from infra.local.stack import APP_DATABASE, REPO_ROOT, LocalStack, StackSettings
from infra.local.tls import make_tls_files


def test_database_tls_in_the_environment_requires_tls(stack, database):
    url = parse_database_url(database.url)
    name = f"tls-test-{database.name}"
    boto3.client("secretsmanager").create_secret(
        Name=name,
        SecretString=json.dumps(
            {"username": url.user, "password": url.password, "host": "db.invalid", "port": url.port}
        ),
    )
    environ = {"DATABASE_SECRET_ID": name, "DATABASE_HOST": url.host, "DATABASE_TLS": "true"}
    settings = settings_from_env(environ)
    assert (settings.host, settings.port, settings.tls) == (url.host, url.port, True)
    assert settings_from_env({**environ, "DATABASE_TLS": ""}).tls is False

    with connect(replace(settings, tls=False), database=database.name).cursor() as cursor:
        cursor.execute("SELECT @@have_ssl")
        assert cursor.fetchone()[0] != "YES"  # so the refusal below is about TLS
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect(settings, database=database.name)
    assert refused.value.args[0] == 2026
    assert "SSL is required" in refused.value.args[1]
    assert is_retryable_later(refused.value)


# -- a server that serves TLS only -------------------------------------------------------
#
# One more MariaDB server for this module: the local stack's, asked for TLS (its own CA, a
# server certificate for 127.0.0.1, plaintext over TCP refused). Only its database is
# started (no moto, runtime or API of its own: the session stack's moto holds its
# secrets). The session stack's server, which offers no TLS, is the one that must be
# refused. Each client is checked both ways: a client that ignored DATABASE_TLS would
# still reach the TLS server (PyMySQL tries TLS when a server offers it), but it would
# talk to the plaintext server in plaintext instead of refusing it.

TLS_PREFIX = "tls-test"  # its secrets' names, apart from the session stack's


@pytest.fixture(scope="module")
def tls_stack(stack, tmp_path_factory):
    """A TLS-only database with the stack's accounts, migrated by the stack (over TLS:
    ``LocalStack.migrate``), and the drain's and the relay's secrets on moto."""
    local = LocalStack(
        tmp_path_factory.mktemp("tls") / "s",
        StackSettings(deployment=Deployment(prefix=TLS_PREFIX), database_tls=True),
    )
    local.db.start()
    try:
        local.create_database(APP_DATABASE)
        local._store_database_secret()  # what start() does once moto runs: it does here
        local.migrate()
        yield local
    finally:
        local.db.remove()


def session_status(connection, name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE %s", (name,))
        row = cursor.fetchone()
    return row[1] if row else ""


def test_a_required_tls_session_is_encrypted_and_checks_the_servers_certificate(
    tls_stack, tmp_path
):
    settings = tls_stack.app_settings()
    assert settings.tls and settings.tls_ca == tls_stack.db.tls_ca
    connection = connect(settings)
    try:
        assert session_status(connection, "Ssl_cipher")
        assert session_status(connection, "Ssl_version").startswith("TLSv1.")
    finally:
        connection.close()
    # A CA that did not sign the server's certificate: refused before logging in.
    other_ca = make_tls_files(tmp_path / "other").ca
    with pytest.raises(pymysql.err.OperationalError) as untrusted:
        connect(replace(settings, tls_ca=str(other_ca)))
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.value)
    assert is_retryable_later(untrusted.value)  # misconfigured: the drain's batch waits
    # ... and so is the system's CA store, which never saw this CA.
    with pytest.raises(pymysql.err.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
        connect(replace(settings, tls_ca=None))
    # The server takes no plaintext over TCP either (require_secure_transport).
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password,
            ssl_disabled=True,
        )


def test_the_tls_settings_are_read_strictly(tmp_path):
    base = parse_database_url("mysql://u:p@db.example:3306/d")
    ca = tmp_path / "ca.pem"
    ca.write_text("not read here")
    assert tls_from_env(base, {}).tls is False
    assert tls_from_env(base, {"DATABASE_TLS": "false"}) == base
    assert tls_from_env(base, {"DATABASE_TLS": "TRUE"}) == replace(base, tls=True)
    # A CA means TLS required, checked against it.
    assert tls_from_env(base, {"DATABASE_TLS_CA": str(ca)}) == replace(
        base, tls=True, tls_ca=str(ca)
    )
    for environ, problem in (
        ({"DATABASE_TLS": "ture"}, "DATABASE_TLS must be true or false"),
        ({"DATABASE_TLS": "true", "DATABASE_TLS_CA": str(tmp_path / "no")}, "names no file"),
        ({"DATABASE_TLS": "false", "DATABASE_TLS_CA": str(ca)}, "DATABASE_TLS is false"),
    ):
        with pytest.raises(ConfigurationError, match=problem):
            tls_from_env(base, environ)
    # DATABASE_URL gets the same TLS as a secret does.
    assert settings_from_env({"DATABASE_URL": base.url("mysql"), "DATABASE_TLS": "1"}).tls


def test_migrations_run_over_tls_and_refuse_a_server_without_it(
    tls_stack, stack, database, monkeypatch
):
    from alembic import command
    from alembic.config import Config

    def upgrade(url: str) -> None:
        # As `alembic upgrade head` in a shell: the database from the environment only.
        monkeypatch.setenv("DATABASE_URL", url)
        config = Config(str(REPO_ROOT / "alembic.ini"))
        config.attributes["skip_logging_config"] = True
        command.upgrade(config, "head")

    monkeypatch.setenv("DATABASE_TLS", "true")
    monkeypatch.setenv("DATABASE_TLS_CA", tls_stack.db.tls_ca)
    upgrade(tls_stack.create_database("migrated_over_tls"))
    admin = tls_stack.db.connect_root("migrated_over_tls")
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT version_num FROM alembic_version")
            assert (
                cursor.fetchone()[0]
                == ScriptDirectory.from_config(
                    Config(str(REPO_ROOT / "alembic.ini"))
                ).get_current_head()
            )
    finally:
        admin.close()

    # The session stack's server offers no TLS: required, it is refused, nothing migrated.
    monkeypatch.delenv("DATABASE_TLS_CA")
    with pytest.raises(sqlalchemy.exc.OperationalError, match="SSL is required"):
        upgrade(database.url)
    with database.connect().cursor() as cursor:
        cursor.execute("SHOW TABLES")
        assert cursor.fetchall() == ()


def start_function(spec_name: str, environment: dict[str, str], log) -> FunctionContainer:
    """A worker process running the catalog's handler with ``environment`` (on top of the
    test process's: the session stack's moto and its credentials)."""
    spec = next(s for s in FUNCTIONS if s.name == spec_name)
    return FunctionContainer(
        LocalFunction(
            name=f"{TLS_PREFIX}-{spec_name}",
            arn=f"arn:aws:lambda:us-east-1:123456789012:function:{TLS_PREFIX}-{spec_name}",
            handler=spec.handler,
            timeout_seconds=30,
            environment=environment,
        ),
        log,
    )


def function_environment(spec_name: str, deployment: Deployment) -> dict[str, str]:
    spec = next(s for s in FUNCTIONS if s.name == spec_name)
    return resolve_environment(spec, deployment, {})


def drain_event(key: str) -> dict:
    row = queued_row(
        resource_named("customers"),
        {"email": f"{key}@example.com", "name": key, "phone": None},
        key,
    )
    message = {"MessageId": f"m-{key}", "ReceiptHandle": "r", "Body": message_body(row)}
    return sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:ingest.fifo", "us-east-1")


def invoke_both(*calls: tuple[FunctionContainer, dict]) -> list[InvocationOutcome]:
    """Invoke each container with its event, at once (their imports overlap), then end
    them."""
    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(lambda c: c[0].invoke(c[1], str(uuid.uuid4())), calls))
    finally:
        for container, _ in calls:
            container.close()


@pytest.fixture
def function_log(tmp_path):
    with open(tmp_path / "functions.log", "w") as log:
        yield log


def test_the_catalog_gives_the_drain_and_the_relay_the_deployments_tls(tls_stack):
    for name in ("drain", "relay"):
        environment = function_environment(name, tls_stack.deployment)
        assert environment["DATABASE_TLS"] == "true"
        assert environment["DATABASE_TLS_CA"] == tls_stack.db.tls_ca
        assert "DATABASE_TLS" not in function_environment(name, Deployment())
    # What the stack hands to a shell, the CLI and alembic.
    assert {"DATABASE_TLS": "true", "DATABASE_TLS_CA": tls_stack.db.tls_ca}.items() <= (
        tls_stack.environment().items()
    )


def test_the_drain_writes_over_tls_and_refuses_a_server_without_it(tls_stack, stack, function_log):
    over_tls = start_function(
        "drain", function_environment("drain", tls_stack.deployment), function_log
    )
    # The session stack's drain, told to require TLS of a server that has none.
    refused = start_function(
        "drain",
        {**stack.resources.function_environments["drain"], "DATABASE_TLS": "true"},
        function_log,
    )
    written, failed = invoke_both((over_tls, drain_event("tls-1")), (refused, drain_event("tls-2")))
    assert written.error is None and written.result == {"batchItemFailures": []}
    # An outage to the drain: the batch goes back to the queue, nothing is written.
    assert failed.error["errorType"] == "DatabaseUnavailable"
    assert "SSL is required" in failed.error["errorMessage"]
    admin = tls_stack.db.connect_root(APP_DATABASE)
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT name FROM customers")
            assert cursor.fetchall() == (("tls-1",),)  # in the TLS server's database
    finally:
        admin.close()


def test_the_relay_runs_over_tls_and_refuses_a_server_without_it(tls_stack, stack, function_log):
    over_tls = start_function(
        "relay", function_environment("relay", tls_stack.deployment), function_log
    )
    refused = start_function(
        "relay",
        {**stack.resources.function_environments["relay"], "DATABASE_TLS": "true"},
        function_log,
    )
    ran, failed = invoke_both((over_tls, {}), (refused, {}))
    assert ran.error is None and ran.result["claimed"] == 0  # its outbox is empty
    assert failed.error is not None and "SSL is required" in failed.error["errorMessage"]


def test_the_cli_connects_over_tls_and_refuses_a_server_without_it(
    tls_stack, database, monkeypatch, capsys
):
    from infra.cli import main

    # The settings a shell gets from `aurora-events stack env` of a TLS stack.
    for key in ("DATABASE_URL", "DATABASE_TLS", "DATABASE_TLS_CA"):
        monkeypatch.setenv(key, tls_stack.environment()[key])
    assert main(["outbox"]) == 0
    assert "parked" in capsys.readouterr().out

    assert main(["outbox", "--database-url", database.url]) == 2
    error = capsys.readouterr().err
    assert "cannot connect to 127.0.0.1" in error and "SSL is required" in error


def test_a_deployment_ships_its_ca_in_the_layer_and_points_the_functions_there(stack, tmp_path):
    ca = make_tls_files(tmp_path / "ca").ca
    deployment = Deployment(prefix="tls-layer", database_tls=True, database_tls_ca=str(ca))
    on_aws = Context(deployment)  # dependencies vendored into the layer, as deployed
    here = Context(deployment, options=EventPathOptions(vendor_dependencies=False))
    for name in ("drain", "relay"):
        spec = function_spec(name)
        assert (
            on_aws.resource(Functions).environment(spec)["DATABASE_TLS_CA"] == DATABASE_CA_ON_LAMBDA
        )
        assert here.resource(Functions).environment(spec)["DATABASE_TLS_CA"] == str(
            ca
        )  # the local runtime's
        assert on_aws.resource(Layer).version_arn in on_aws.resource(Functions).function_layers(
            spec
        )  # holding the CA
    # An RDS Proxy's certificate is under Amazon's roots (the system's CAs), not the RDS
    # bundle: the drain behind it checks against those; the relay, not proxied, keeps it.
    proxied = Context(replace(deployment, rds_proxy=True))
    drain_environment = proxied.resource(Functions).environment(function_spec("drain"))
    assert drain_environment["DATABASE_TLS"] == "true"
    assert "DATABASE_TLS_CA" not in drain_environment
    assert (
        proxied.resource(Functions).environment(function_spec("relay"))["DATABASE_TLS_CA"]
        == DATABASE_CA_ON_LAMBDA
    )

    layer = DependencyLayer(boto3.client("lambda"), deployment, {"pymysql"})
    try:
        archive = zipfile.ZipFile(io.BytesIO(layer.content()))
    except IndexUnreachable as error:
        pytest.skip(f"the package index cannot be reached: {error}")
    assert archive.read(DATABASE_CA_IN_LAYER) == ca.read_bytes()
    assert "/opt/" + DATABASE_CA_IN_LAYER == DATABASE_CA_ON_LAMBDA

    missing = Deployment(prefix="tls-layer", database_tls_ca=str(tmp_path / "nowhere.pem"))
    with pytest.raises(SettingError, match="database_tls_ca"):
        DependencyLayer(boto3.client("lambda"), missing, {"pymysql"}).content()
