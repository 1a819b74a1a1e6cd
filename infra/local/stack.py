"""The local stack: everything the project needs, on this machine, in one directory.

Parts: a private MariaDB server, a moto server, Aurora's native Lambda functions emulated
on that server, the notification path provisioned on moto by the same code that deploys
to AWS (the declared order, :mod:`infra.aws.resources.order`), and the local Lambda runtime.

Used three ways: in-process by the demo and the tests (``with LocalStack(dir) as stack``),
and as a background process by ``aurora-events stack start`` (see :func:`serve`).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import boto3

from functions.common.database import DatabaseSettings
from infra.aws.aurora.config import AuroraAccessConfig
from infra.aws.aurora.order import plan_aurora_access
from infra.aws.changes import apply_changes
from infra.aws.resources.context import Context, EventPathOptions
from infra.aws.resources.live import LiveResources, live_resources
from infra.aws.resources.order import apply as apply_event_path
from infra.aws.tags import LOCAL_RUNTIME_TAG, OWN_POLLER_TAG
from infra.catalog import (
    EVENT_SOURCES,
    FUNCTIONS,
    LIVE_ALIAS,
    Deployment,
    EventSourceSpec,
    FunctionSpec,
    reserved_concurrency,
)
from infra.database import grants
from infra.local import emulation
from infra.local.api_gateway import LocalApiGateway
from infra.local.aws_server import LocalAwsServer
from infra.local.container_pool import LocalFunction
from infra.local.db_server import MariaDBServer, make_private_dir, write_private_file
from infra.local.event_source import SqsEventSourcePoller
from infra.local.lambda_api import LocalLambdaApi
from infra.local.lambda_delivery import DEFAULT_RETRY_DELAYS
from infra.local.lambda_runtime import LambdaRuntime
from sql import quote_identifier, quote_string

APP_DATABASE = "aurora_events"
# Two accounts, as on Aurora (see infra/database/grants.py): the migration account owns the
# schema and defines the triggers (it holds the Lambda role); the drain's account only
# reads and inserts the rows of the tables it writes.
APP_USER = "app"
DRAIN_USER = "drain"
RELAY_USER = "relay"  # the outbox relay: the outbox table and its hold counter, nothing else
# A local subscriber to the notifications topic, so that `aurora-events tail` and the demo
# can see what SNS delivered. Not part of the catalog: on AWS, subscribers are the users'.
TAIL_QUEUE = "notifications-tail"
DATABASE_SECRET = "database"  # Secrets Manager secret with the drain's credentials
RELAY_DATABASE_SECRET = "relay-database"  # ... and with the relay's
LOCAL_CLUSTER = "local"  # the moto stand-in for the Aurora cluster
LOCAL_CLUSTER_ENGINE_VERSION = "8.0.mysql_aurora.3.05.2"
REPO_ROOT = Path(__file__).resolve().parents[2]
# The value of the mappings' OWN_POLLER_TAG: what feeds the drain here instead of them
# (in the characters AWS allows in a tag value).
OWN_POLLER = "infra/local/event_source.py"
# The value of the functions' LOCAL_RUNTIME_TAG: what runs their code here.
LOCAL_RUNTIME = "infra/local/lambda_runtime.py"


def invokes_functions(spec: FunctionSpec) -> bool:
    """True for a function whose role may invoke other functions (the relay)."""
    return any("lambda:InvokeFunction" in p.actions for p in spec.permissions)


def local_functions(
    deployment: Deployment,
    resources: LiveResources,
    lambda_endpoint: str | None = None,
    extra_environment: Mapping[str, Mapping[str, str]] | None = None,
) -> list[LocalFunction]:
    """The catalog's functions as the local runtime runs them. A function that invokes
    others gets ``AWS_ENDPOINT_URL_LAMBDA=lambda_endpoint`` (the local Invoke API: moto
    runs no code); ``extra_environment`` adds variables by catalog name (settings). A
    function with a reserved concurrency (the relay) gets as many containers, no more: an
    invocation beyond them waits for one, as Lambda's throttled asynchronous calls wait."""
    extra_environment = extra_environment or {}
    return [
        LocalFunction(
            name=deployment.resource_name(spec.name),
            arn=resources.function_arns[spec.name],
            handler=spec.handler,
            timeout_seconds=spec.timeout_seconds,
            memory_mb=spec.memory_mb,
            environment={
                **resources.function_environments[spec.name],
                **(
                    {"AWS_ENDPOINT_URL_LAMBDA": lambda_endpoint}
                    if lambda_endpoint and invokes_functions(spec)
                    else {}
                ),
                **extra_environment.get(spec.name, {}),
            },
            max_retry_attempts=spec.max_retry_attempts,
            on_failure_queue_url=resources.queue_urls.get(spec.on_failure_queue or ""),
            **_concurrency(spec, deployment),
        )
        for spec in FUNCTIONS
    ]


def _concurrency(spec: FunctionSpec, deployment: Deployment) -> dict[str, int]:
    """``{"concurrency": n}`` for a function whose catalog entry bounds it; else nothing
    (the runtime's default)."""
    limit = reserved_concurrency(spec, deployment)
    return {} if limit is None else {"concurrency": limit}


@dataclass
class StackSettings:
    """What differs between the stack of the demo, the tests and a developer's."""

    # Lambda's async retry delays (about 60 s and 120 s on AWS), shortened.
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    # How long a message the drain failed stays in flight (the queue's visibility
    # timeout, 180 s on AWS), shortened.
    queue_visibility_seconds: float = 1.0
    deployment: Deployment = field(default_factory=Deployment)
    # How often the runtime runs the outbox relay without a doorbell: the backstop that
    # the 1-minute schedule is on AWS, shorter here so a lost doorbell costs seconds.
    relay_schedule_seconds: float = 5.0
    # The relay's settings (RELAY_<FIELD>, see functions/relay/handler.py), e.g. a short
    # backoff for the tests.
    relay_environment: Mapping[str, str] = field(default_factory=dict)
    # TLS for the database: the server gets a certificate from a CA the stack makes (and
    # refuses plaintext over TCP); the clients get DATABASE_TLS and DATABASE_TLS_CA.
    database_tls: bool = False
    # Who the local API says the caller is (it verifies no signature or token): a fixed
    # principal (empty: for api_auth iam the ARN of the stack's own credentials, as SigV4
    # with them would give; for jwt the subject "local"), or with api_principal_header
    # (e.g. "X-Local-Principal") each request's value of that header, so that a test can
    # act as several callers; a request without it is refused as API Gateway would.
    api_principal: str = ""
    api_principal_header: str = ""


def alembic_config():
    """Alembic's configuration for running the migrations in-process: the checkout's
    alembic.ini, or, installed from a wheel (which holds no alembic.ini), the installed
    ``migrations`` package as the script location."""
    from alembic.config import Config

    ini = REPO_ROOT / "alembic.ini"
    if ini.is_file():
        return Config(str(ini))
    import migrations

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).resolve().parent))
    return config


class LocalStack:
    """Start with :meth:`start`, end with :meth:`stop` (which also removes the data)."""

    def __init__(self, base_dir: Path, settings: StackSettings | None = None) -> None:
        self.base_dir = Path(base_dir)
        self.settings = settings or StackSettings()
        self.db = MariaDBServer(self.base_dir / "mysql", tls=self.settings.database_tls)
        self.deployment = replace(
            self.settings.deployment,
            database_secret_id=self.settings.deployment.resource_name(DATABASE_SECRET),
            relay_database_secret_id=self.settings.deployment.resource_name(RELAY_DATABASE_SECRET),
            # The functions' TLS settings, as a deployment on AWS gives them (the catalog).
            database_tls=self.settings.database_tls,
            database_tls_ca=self.db.tls_ca or "",
        )
        # Where the local event path departs from AWS's.
        self.event_path_options = EventPathOptions(
            event_sources_enabled=False,  # no event source mappings: the local poller stands in
            vendor_dependencies=False,  # no vendored dependencies: moto runs no code
        )
        self.aws = LocalAwsServer(log_path=self.base_dir / "aws.log")
        self.runtime: LambdaRuntime | None = None
        self.lambda_api: LocalLambdaApi | None = None
        self.api: LocalApiGateway | None = None
        self.pollers: list[SqsEventSourcePoller] = []
        self.resources: LiveResources | None = None
        self.tail_queue_url: str | None = None
        self.aurora_access: AuroraAccessConfig | None = None
        self._app_password = secrets.token_urlsafe(18)
        self._drain_password = secrets.token_urlsafe(18)
        self._relay_password = secrets.token_urlsafe(18)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        try:
            make_private_dir(self.base_dir)
            self.aws.start(wait=False)  # moto's process loads while the database starts
            os.environ.update(self.aws.environment())
            self.db.start()
            self.aws.wait_until_ready()
            self.create_database(APP_DATABASE)
            self._store_database_secret()
            context = Context(self.deployment, options=self.event_path_options)
            apply_event_path(context)
            self.resources = live_resources(context)
            self._tag_local_runtime()
            self.aurora_access = self._give_cluster_lambda_access()
            self.tail_queue_url = self._subscribe_tail_queue()
            # Bound before the runtime is built: its URL goes into the relay's environment.
            self.lambda_api = LocalLambdaApi()
            self.lambda_api.start()
            self.runtime = LambdaRuntime(
                self.admin_settings(),
                local_functions(
                    self.deployment,
                    self.resources,
                    self.lambda_api.url,
                    {"relay": self.settings.relay_environment},
                ),
                retry_delays=self.settings.retry_delays,
                log_dir=self.base_dir / "logs",
                schedules={self.relay_name: self.settings.relay_schedule_seconds},
            )
            self.lambda_api.attach(self.runtime)
            self.runtime.start()
            self.api = LocalApiGateway(
                self.runtime,
                self.deployment.resource_name("ingest"),
                self.deployment.api_stage,
                auth=self.deployment.api_auth,
                principal=self._api_principal(),
                principal_header=self.settings.api_principal_header,
            )
            self.api.start()
            for source in EVENT_SOURCES:
                poller = SqsEventSourcePoller(
                    self.runtime,
                    # As the mapping on AWS: the function's alias.
                    f"{self.deployment.resource_name(source.function)}:{LIVE_ALIAS}",
                    self.resources.queue_urls[source.queue],
                    self.resources.queue_arns[source.queue],
                    batch_size=source.batch_size,
                    max_concurrency=min(source.maximum_concurrency, 2),  # 2 cores here
                    visibility_seconds=self.settings.queue_visibility_seconds,
                )
                poller.start()
                self.pollers.append(poller)
                self._record_own_poller(source)
            write_private_file(
                self.env_file,
                "".join(
                    f"export {key}={shlex.quote(value)}\n"
                    for key, value in self.environment().items()
                ),
            )
        except BaseException:
            self.stop()
            raise

    def _api_principal(self) -> str:
        """The local API's fixed principal: the setting's, else for iam the ARN of the
        credentials the stack's clients sign with (moto's STS tells it)."""
        if self.settings.api_principal or self.deployment.api_auth != "iam":
            return self.settings.api_principal
        return boto3.client("sts").get_caller_identity()["Arn"]

    def stop(self) -> None:
        """Stop every part and delete the stack's directory."""
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        if self.lambda_api is not None:
            self.lambda_api.stop()
            self.lambda_api = None
        self.db.remove()
        self.aws.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def relay_name(self) -> str:
        """The outbox relay's deployed name."""
        return self.deployment.resource_name("relay")

    # -- databases -------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create (or empty) database ``name`` for the app user, emulation included; its URL."""
        admin = self.db.connect_root()
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)}")
                cursor.execute(
                    f"CREATE DATABASE {quote_identifier(name)} "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
                account = grants.account_literal(APP_USER, "%")
                cursor.execute(
                    f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY "
                    f"{quote_string(self._app_password)}"
                )
                cursor.execute(f"GRANT ALL ON {quote_identifier(name)}.* TO {account}")
                # No privileges yet: the tables it writes exist once migrated (migrate()).
                for user, password in (
                    (DRAIN_USER, self._drain_password),
                    (RELAY_USER, self._relay_password),
                ):
                    cursor.execute(
                        f"CREATE USER IF NOT EXISTS {grants.account_literal(user, '%')} "
                        f"IDENTIFIED BY {quote_string(password)}"
                    )
            emulation.install(admin, [name])
            # The same grant as on Aurora (here in the emulation's dialect).
            grants.grant_lambda_access(admin, APP_USER, "%")
        finally:
            admin.close()
        return self.database_url(name)

    def migrate(self, name: str = APP_DATABASE) -> None:
        """``alembic upgrade head`` as the migration account (the triggers' definer), then
        give the drain's account its privileges on the tables it writes, and the relay's
        its privileges on the outbox (once a revision created it)."""
        from alembic import command

        config = alembic_config()
        config.attributes.update(
            database_settings=self.app_settings(name), skip_logging_config=True
        )
        command.upgrade(config, "head")
        self.grant_drain_access(name)
        admin = self.db.connect_root()
        try:
            if grants.outbox_exists(admin, name):
                grants.grant_relay_access(admin, RELAY_USER, "%", name, definer=(APP_USER, "%"))
        finally:
            admin.close()

    def grant_drain_access(self, name: str = APP_DATABASE) -> list[str]:
        """The drain's table privileges in database ``name`` (after its migrations)."""
        admin = self.db.connect_root()
        try:
            return grants.grant_drain_access(admin, DRAIN_USER, "%", name, definer=(APP_USER, "%"))
        finally:
            admin.close()

    def database_url(self, name: str = APP_DATABASE) -> str:
        return self.app_settings(name).url(driver="mysql")

    def app_settings(self, name: str = APP_DATABASE) -> DatabaseSettings:
        return DatabaseSettings(
            host="127.0.0.1",
            port=self.db.port,
            user=APP_USER,
            password=self._app_password,
            database=name,
            tls=self.db.tls,
            tls_ca=self.db.tls_ca,
        )

    def drain_settings(self, name: str = APP_DATABASE) -> DatabaseSettings:
        """The drain's runtime account: rows of the tables it writes, nothing else."""
        return replace(self.app_settings(name), user=DRAIN_USER, password=self._drain_password)

    def relay_settings(self, name: str = APP_DATABASE) -> DatabaseSettings:
        """The outbox relay's account: the outbox table and its hold counter, nothing else."""
        return replace(self.app_settings(name), user=RELAY_USER, password=self._relay_password)

    def _store_database_secret(self) -> None:
        """The drain and the relay read their credentials from Secrets Manager, locally as
        on AWS."""
        self._store_secret(self.deployment.database_secret_id, self.drain_settings())
        self._store_secret(self.deployment.relay_database_secret_id, self.relay_settings())

    @staticmethod
    def _store_secret(name: str, settings: DatabaseSettings) -> None:
        boto3.client("secretsmanager").create_secret(
            Name=name,
            SecretString=json.dumps(
                {
                    "engine": "mysql",
                    "host": settings.host,
                    "port": settings.port,
                    "username": settings.user,
                    "password": settings.password,
                    "dbname": settings.database,
                }
            ),
        )

    def admin_settings(self) -> DatabaseSettings:
        return self.db.root_settings()

    def admin_url(self, name: str = APP_DATABASE) -> str:
        """root over the server's socket, in the database ``name``, as a URL."""
        return replace(self.admin_settings(), database=name).url(driver="mysql")

    # -- what a user exports ---------------------------------------------------------

    @property
    def env_file(self) -> Path:
        return self.base_dir / "stack.env"

    def environment(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url(),
            **self.tls_environment(),
            **self.aws.environment(),
            "AURORA_EVENTS_PREFIX": self.deployment.prefix,
            "AURORA_EVENTS_ADMIN_SOCKET": str(self.db.socket_path),
            # root over the socket, for the commands that take --admin-url (doctor, grant).
            "AURORA_EVENTS_ADMIN_URL": self.admin_url(),
            "AURORA_EVENTS_STACK_DIR": str(self.base_dir.resolve()),
            "AURORA_EVENTS_TAIL_QUEUE_URL": self.tail_queue_url or "",
            "AURORA_EVENTS_API_URL": self.api.url if self.api else "",
            "AURORA_EVENTS_CLUSTER": self.aurora_access.cluster if self.aurora_access else "",
            # The secrets the drain and the relay read: what `doctor` checks them against.
            "AURORA_EVENTS_DATABASE_SECRET_ID": self.deployment.database_secret_id,
            "AURORA_EVENTS_RELAY_DATABASE_SECRET_ID": self.deployment.relay_database_secret_id,
        }

    def tls_environment(self) -> dict[str, str]:
        """``DATABASE_TLS`` and ``DATABASE_TLS_CA`` when the database serves TLS: what
        every client of the stack (CLI, alembic, a shell) needs to require it."""
        if not self.db.tls:
            return {}
        return {"DATABASE_TLS": "true", "DATABASE_TLS_CA": self.db.tls_ca}

    def _give_cluster_lambda_access(self) -> AuroraAccessConfig:
        """Run the Aurora access chain (IAM policy and role, cluster parameter, role
        association) against a stand-in cluster on moto: the same apply as on AWS. The
        local server does not read it; the emulation checks only the database grant."""
        cluster = self.deployment.resource_name(LOCAL_CLUSTER)
        boto3.client("rds").create_db_cluster(
            DBClusterIdentifier=cluster,
            Engine="aurora-mysql",
            EngineVersion=LOCAL_CLUSTER_ENGINE_VERSION,
            MasterUsername="admin",
            MasterUserPassword=secrets.token_urlsafe(18),
        )
        config = AuroraAccessConfig(
            cluster=cluster,
            function_arns=tuple(
                self.resources.function_arns[spec.name]
                for spec in FUNCTIONS
                if spec.invoked_by_aurora
            ),
            prefix=self.deployment.prefix,
        )
        apply_changes(plan_aurora_access(config))
        return config

    def _record_own_poller(self, source: EventSourceSpec) -> None:
        """Tag the (disabled) mapping the poller stands in for, so that whoever reads the
        deployment (the doctor) knows that the poller feeds the function, not the mapping."""
        lambda_client = boto3.client("lambda")
        function = f"{self.resources.function_arns[source.function]}:{LIVE_ALIAS}"
        mappings = lambda_client.list_event_source_mappings(
            EventSourceArn=self.resources.queue_arns[source.queue], FunctionName=function
        )["EventSourceMappings"]
        for mapping in mappings:
            lambda_client.tag_resource(
                Resource=mapping["EventSourceMappingArn"], Tags={OWN_POLLER_TAG: OWN_POLLER}
            )

    def _tag_local_runtime(self) -> None:
        """Each function says by its tag that the local runtime runs it (no layer, the CA
        bundle of this machine), so that the doctor plans it as deployed."""
        lambda_client = boto3.client("lambda")
        for arn in self.resources.function_arns.values():
            lambda_client.tag_resource(Resource=arn, Tags={LOCAL_RUNTIME_TAG: LOCAL_RUNTIME})

    def _subscribe_tail_queue(self) -> str:
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName=self.deployment.resource_name(TAIL_QUEUE))["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        boto3.client("sns").subscribe(
            TopicArn=self.resources.topic_arns["notifications"],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "false"},
        )
        return url


# -- the background process ------------------------------------------------------------


def serve(base_dir: Path, tls: bool = False, api_principal_header: str = "") -> None:
    """Run a stack until SIGTERM or SIGINT (what ``aurora-events stack start`` launches);
    ``tls``: its database serves TLS only (:attr:`StackSettings.database_tls`);
    ``api_principal_header``: :attr:`StackSettings.api_principal_header`."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stack = LocalStack(
        base_dir, StackSettings(database_tls=tls, api_principal_header=api_principal_header)
    )
    stack.start()
    try:
        # So that the API answers at once: the schema at head, the drain's grants given.
        stack.migrate()
        write_private_file(stack.base_dir / "stack.pid", str(os.getpid()))
        stopping.wait()
    finally:
        stack.stop()


if __name__ == "__main__":
    import argparse
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(description="Run the local stack in the foreground.")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--tls", action="store_true", help="the database serves TLS only")
    parser.add_argument("--api-principal-header", default="", help="the caller from this header")
    arguments = parser.parse_args()
    serve(arguments.dir, tls=arguments.tls, api_principal_header=arguments.api_principal_header)
