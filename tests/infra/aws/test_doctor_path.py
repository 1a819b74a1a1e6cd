"""The doctor's ingest-path links on moto and the real server: a whole deployment passes
every link; each link, broken on purpose, is found first and repaired by its own
suggested fix (aws CLI lines through boto3, aurora-events lines through the subcommands,
SQL on the admin connection).

The versions, the alias ``live`` and the HTTP API are deployed by code other engineers
are adding: until then :func:`complete_path` creates them here with boto3, the way the
deployment will (and leaves them alone once the deployment creates them itself).
"""

from __future__ import annotations

import functools
import json
import secrets
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

import boto3
import pytest
from alembic import command
from alembic.config import Config

from infra.aws import doctor
from infra.aws.aurora.config import AuroraAccessConfig
from infra.aws.aurora.order import plan_aurora_access
from infra.aws.changes import apply_changes
from infra.aws.doctor.fixes import drain_grant_command
from infra.aws.doctor.path import PathCheck, route_keys
from infra.aws.resources import order
from infra.aws.resources.context import Context
from infra.aws.tags import project_tags
from infra.catalog import LIVE_ALIAS, queue_spec
from infra.database import grants
from sql import quote_string
from tests.infra.aws.conftest import run_aurora_events, run_fix, unique
from tests.infra.aws.test_event_path import new_path
from tests.infra.aws.test_network import make_network
from tests.support import wait_for

REPO_ROOT = Path(__file__).resolve().parents[3]
PATH_LINKS = ["api", "ingest", "queue", "mapping", "drain", "database"]
CHAIN_LINKS = ["role", "policy", "parameter", "association", "triggers", "grant", "functions"]


def ensure_alias(lambda_client, name: str) -> str:
    """The function's alias ``live`` at a published version; its ARN."""
    try:
        return lambda_client.get_alias(FunctionName=name, Name=LIVE_ALIAS)["AliasArn"]
    except lambda_client.exceptions.ResourceNotFoundException:
        version = lambda_client.publish_version(FunctionName=name)["Version"]
        return lambda_client.create_alias(
            FunctionName=name, Name=LIVE_ALIAS, FunctionVersion=version
        )["AliasArn"]


def complete_path(path: Context) -> None:
    """What the deployment is about to create itself: the aliases, the mapping to the
    drain's alias, and the HTTP API in front of the ingest alias."""
    lambda_client = boto3.client("lambda")
    deployment = path.deployment
    ingest = ensure_alias(lambda_client, deployment.resource_name("ingest"))
    drain = ensure_alias(lambda_client, deployment.resource_name("drain"))
    queue_arn = path.queue_arn("ingest")
    to_alias = lambda_client.list_event_source_mappings(
        EventSourceArn=queue_arn, FunctionName=drain
    )["EventSourceMappings"]
    if not to_alias:
        for mapping in lambda_client.list_event_source_mappings(EventSourceArn=queue_arn)[
            "EventSourceMappings"
        ]:
            lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
        lambda_client.create_event_source_mapping(
            FunctionName=drain,
            EventSourceArn=queue_arn,
            BatchSize=10,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            ScalingConfig={"MaximumConcurrency": 5},
        )
    apigateway = boto3.client("apigatewayv2")
    name = deployment.resource_name("api")
    if any(api["Name"] == name for api in apigateway.get_apis()["Items"]):
        return
    api_id = apigateway.create_api(
        Name=name, ProtocolType="HTTP", Tags=project_tags(deployment.prefix)
    )["ApiId"]
    integration = apigateway.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=ingest,
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    for key in route_keys():
        apigateway.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}")
    apigateway.create_stage(ApiId=api_id, StageName=deployment.api_stage, AutoDeploy=True)
    lambda_client.add_permission(
        FunctionName=deployment.resource_name("ingest"),
        Qualifier=LIVE_ALIAS,
        StatementId=f"{name}-invoke",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=path.target.arn("execute-api", f"{api_id}/*"),
    )


@dataclass
class Whole:
    """A deployment on moto whose drain writes a migrated database of the real server."""

    path: Context
    check: PathCheck
    config: AuroraAccessConfig
    schema: str
    drain_user: str

    @property
    def prefix(self) -> str:
        return self.path.deployment.prefix

    @property
    def api_id(self) -> str:
        name = self.path.deployment.resource_name("api")
        (api,) = [a for a in boto3.client("apigatewayv2").get_apis()["Items"] if a["Name"] == name]
        return api["ApiId"]

    def function(self, name: str) -> str:
        return self.path.deployment.resource_name(name)


def migrate(database) -> None:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes.update(database_url=database.url, skip_logging_config=True)
    command.upgrade(config, "head")


@pytest.fixture
def whole(stack, database, admin, config):
    migrate(database)
    drain_user, password = unique("drain"), secrets.token_urlsafe(12)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{drain_user}'@'%' IDENTIFIED BY '{password}'")
    grants.grant_drain_access(admin, drain_user, "%", database.name)
    path = new_path()
    boto3.client("secretsmanager").put_secret_value(
        SecretId=path.deployment.database_secret_id,
        SecretString=json.dumps(
            {
                "username": drain_user,
                "password": password,
                "host": "127.0.0.1",
                "port": stack.db.port,
                "dbname": database.name,
            }
        ),
    )
    apply_changes(order.plan(path))
    complete_path(path)
    relay = stack.resources.function_arns["relay"]
    # One prefix for the event path and Aurora's chain, as a deployment has.
    with_relay = replace(
        config, prefix=path.deployment.prefix, function_arns=(*config.function_arns, relay)
    )
    apply_changes(plan_aurora_access(with_relay))
    check = PathCheck(path.deployment, options=path.options)
    yield Whole(path, check, with_relay, database.name, drain_user)
    apply_changes(order.plan_destroy(path))


def diagnose(whole: Whole, admin, check: PathCheck | None = None, config=None, **options):
    return doctor.diagnose(
        config or whole.config,
        None,
        admin,
        check_network=False,
        schema=whole.schema,
        path=check or whole.check,
        **options,
    )


def registered(whole: Whole, admin, timeout: float = 30):
    """The diagnosis once no proxy target is REGISTERING any more: moto reports a new
    target so once, as AWS does for a while (a deadline, so that a target stuck in that
    state fails the test rather than hanging it)."""

    def diagnosis():
        found = diagnose(whole, admin)
        return None if found.finding and "REGISTERING" in found.finding.problem else found

    return wait_for(diagnosis, timeout=timeout)


def first_broken(whole: Whole, admin, link: str, **options) -> doctor.Finding:
    diagnosis = diagnose(whole, admin, **options)
    finding = diagnosis.finding
    assert finding is not None and finding.link == link, doctor.render_diagnosis(diagnosis)
    return finding


@pytest.fixture
def deploy_settings(whole, monkeypatch):
    """`aurora-events deploy apply` runs with this deployment's settings (its secrets, its
    email identity), without vendoring (see test_doctor_relay): what a fix runs."""
    deployment = whole.path.deployment
    for key, value in (
        ("AURORA_EVENTS_DATABASE_SECRET_ID", deployment.database_secret_id),
        ("AURORA_EVENTS_RELAY_DATABASE_SECRET_ID", deployment.relay_database_secret_id),
        ("AURORA_EVENTS_EMAIL_FROM", deployment.email_from),
    ):
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(
        "infra.aws.commands.Context", functools.partial(Context, options=whole.path.options)
    )


def assert_repaired(whole: Whole, admin, finding, **options) -> doctor.Diagnosis:
    run_fix(finding, admin)
    after = diagnose(whole, admin, **options)
    assert after.finding is None, doctor.render_diagnosis(after)
    return after


# -- the whole path ----------------------------------------------------------------------


def test_a_whole_deployment_passes_every_link_and_the_probe_gets_a_pong(
    whole, admin, database, stack
):
    diagnosis = diagnose(
        whole,
        admin,
        probe_function=stack.resources.function_arns["notify"],
        probe_connection=database.connect(),
    )
    text = doctor.render_diagnosis(diagnosis)
    assert diagnosis.ok, text
    assert [r.link for r in diagnosis.links] == PATH_LINKS + CHAIN_LINKS
    details = {r.link: r.detail for r in diagnosis.links}
    ingest, drain = f"{whole.prefix}-ingest:live", f"{whole.prefix}-drain:live"
    assert details["api"] == (
        f"HTTP API {whole.prefix}-api ({whole.api_id}): POST /customers, POST /orders -> "
        f"{ingest}, stage prod, invoke permitted"
    )
    assert details["ingest"] == f"{ingest} (version 1) sends to {whole.prefix}-ingest.fifo"
    assert details["queue"] == (
        f"{whole.prefix}-ingest.fifo -> {whole.prefix}-ingest-dlq.fifo after 10 receives; "
        "0 message(s) in the DLQ"
    )
    assert details["mapping"].startswith(f"{whole.prefix}-ingest.fifo -> {drain} (")
    assert details["drain"] == (f"{drain} (version 1); its role may read secret {whole.prefix}-db")
    assert details["database"] == (
        f"the drain's account '{whole.drain_user}'@'%' may SELECT, INSERT customers, orders, "
        f"ingest_conflicts in {whole.schema}; its login is accepted"
    )
    assert details["grant"].startswith("'app'@'%' holds AWS_LAMBDA_ACCESS, active")
    assert details["grant"].endswith(": definer of 7 trigger(s)")
    assert "not checked: VPC (no subnet_ids set" in text
    assert "not checked: RDS Proxy (rds_proxy is off)" in text
    # Each trigger: table, delivery and function.
    assert "orders_ai_notify on orders: outbox -> aurora-events-notify:live (doorbell: " in text
    assert (
        "customer_feedback_ai_email on customer_feedback: direct -> aurora-events-email:live"
        in text
    )
    assert json.loads(diagnosis.probe.result) == {
        "status": "pong",
        "function": "aurora-events-notify",
    }
    assert f"-> {diagnosis.probe.result}\n" in text + "\n"


# -- api ---------------------------------------------------------------------------------


def test_no_api_is_found_first_and_deploy_apply_is_the_fix(stack, admin, config):
    path = new_path()  # nothing deployed
    check = PathCheck(path.deployment)
    diagnosis = doctor.diagnose(config, "app@%", admin, check_network=False, path=check)
    finding = diagnosis.finding
    assert (finding.link, finding.problem) == (
        "api",
        f"no HTTP API {path.deployment.prefix}-api: nothing serves POST /customers, POST /orders",
    )
    assert finding.fix == f"aurora-events deploy apply --prefix {path.deployment.prefix}"
    assert diagnosis.not_checked == [
        "ingest",
        "queue",
        "mapping",
        "drain",
        "database",
        "role",
        "policy",
        "parameter",
        "association",
        "grant",
        "functions",
    ]


def break_route(whole):
    apigateway = boto3.client("apigatewayv2")
    (route,) = [
        r
        for r in apigateway.get_routes(ApiId=whole.api_id)["Items"]
        if r["RouteKey"] == "POST /orders"
    ]
    apigateway.delete_route(ApiId=whole.api_id, RouteId=route["RouteId"])


def break_stage(whole):
    boto3.client("apigatewayv2").delete_stage(ApiId=whole.api_id, StageName="prod")


def break_integration(whole):
    apigateway = boto3.client("apigatewayv2")
    (integration,) = apigateway.get_integrations(ApiId=whole.api_id)["Items"]
    unqualified = integration["IntegrationUri"].rsplit(":", 1)[0]  # $LATEST, not the alias
    apigateway.update_integration(
        ApiId=whole.api_id,
        IntegrationId=integration["IntegrationId"],
        IntegrationUri=unqualified,
    )


def break_permission(whole):
    boto3.client("lambda").remove_permission(
        FunctionName=whole.function("ingest"),
        Qualifier=LIVE_ALIAS,
        StatementId=f"{whole.function('api')}-customers",
    )


API_FIX = "aurora-events deploy apply --prefix {prefix} --only http-api"


@pytest.mark.parametrize(
    ("breaking", "problem"),
    [
        (
            break_route,
            "http api {prefix}-api route POST /orders: create (-> the ingest integration, AWS_IAM)",
        ),
        (
            break_stage,
            "http api {prefix}-api stage prod: create (auto-deploy, burst ",
        ),
        (
            break_integration,
            "http api {prefix}-api integration: update (AWS_PROXY, payload 2.0 -> {ingest}:live)",
        ),
        (
            break_permission,
            "lambda function {prefix}-ingest:live permission {prefix}-api-customers: set "
            "(apigateway.amazonaws.com may invoke it, only from route POST /customers of "
            "{prefix}-api on stage prod)",
        ),
    ],
    ids=["route", "stage", "integration", "permission"],
)
def test_a_broken_api_is_found_and_its_fix_repairs_it(
    whole, admin, deploy_settings, breaking, problem
):
    breaking(whole)
    finding = first_broken(whole, admin, "api")
    ingest = whole.path.target.arn("lambda", f"function:{whole.function('ingest')}")
    values = {"prefix": whole.prefix, "api": whole.api_id, "ingest": ingest}
    assert finding.problem.startswith(problem.format(**values))
    assert finding.fix == API_FIX.format(**values)
    assert finding.fix_kind == "aurora-events"
    assert_repaired(whole, admin, finding)


# -- ingest ------------------------------------------------------------------------------


FUNCTIONS_FIX = "aurora-events deploy apply --prefix {prefix} --only functions"


def test_an_ingest_alias_that_is_gone_breaks_the_api_first_and_applying_the_functions_repairs_it(
    whole, admin, deploy_settings
):
    boto3.client("lambda").delete_alias(FunctionName=whole.function("ingest"), Name=LIVE_ALIAS)
    finding = first_broken(whole, admin, "api")  # the API's routes lead nowhere
    assert finding.problem == (
        f"lambda function {whole.prefix}-ingest alias live: create (at version 1 (it holds "
        "the declared settings)): the API's routes invoke it"
    )
    assert finding.fix == FUNCTIONS_FIX.format(prefix=whole.prefix)
    assert_repaired(whole, admin, finding)
    alias = boto3.client("lambda").get_alias(FunctionName=whole.function("ingest"), Name=LIVE_ALIAS)
    assert alias["FunctionVersion"] == "1"


INGEST_CONSEQUENCE = (
    "the API's requests reach an ingest function other than the declared one (with a wrong "
    "QUEUE_URL each answers 503; at $LATEST every change goes live untested)"
)


def test_an_ingest_alias_at_latest_is_found_and_applying_the_functions_repairs_it(
    whole, admin, deploy_settings
):
    name = whole.function("ingest")
    boto3.client("lambda").update_alias(
        FunctionName=name, Name=LIVE_ALIAS, FunctionVersion="$LATEST"
    )
    # The API's permission is on the alias's version: this checks the ingest link alone.
    check = replace(whole.check, skipped={"api": "checked by the tests above"})
    finding = first_broken(whole, admin, "ingest", check=check)
    assert finding.problem == (
        f"lambda function {name} alias live: move (version $LATEST -> 1 (it holds the "
        f"declared settings)): {INGEST_CONSEQUENCE}"
    )
    assert finding.fix == FUNCTIONS_FIX.format(prefix=whole.prefix)
    assert_repaired(whole, admin, finding, check=check)
    alias = boto3.client("lambda").get_alias(FunctionName=name, Name=LIVE_ALIAS)
    assert alias["FunctionVersion"] == "1"


def test_an_ingest_version_with_the_wrong_queue_url_is_found_and_applying_the_functions_repairs_it(
    whole, admin, deploy_settings
):
    lambda_client = boto3.client("lambda")
    name = whole.function("ingest")
    declared = lambda_client.get_function_configuration(FunctionName=name)["Environment"]
    lambda_client.update_function_configuration(
        FunctionName=name,
        Environment={"Variables": {**declared["Variables"], "QUEUE_URL": "https://elsewhere/q"}},
    )
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    lambda_client.update_alias(FunctionName=name, Name=LIVE_ALIAS, FunctionVersion=version)
    finding = first_broken(whole, admin, "ingest")
    url = boto3.client("sqs").get_queue_url(QueueName=f"{whole.prefix}-ingest.fifo")["QueueUrl"]
    assert finding.problem == (
        f"lambda function {name}: update (configuration: Environment (QUEUE_URL: "
        f"https://elsewhere/q -> {url})); lambda function {name} alias live: publish (a "
        f"version of the changes above; {version} -> the new version): {INGEST_CONSEQUENCE}"
    )
    assert finding.fix == FUNCTIONS_FIX.format(prefix=whole.prefix)
    # deploy apply updates the configuration, publishes a version of it, moves the alias.
    assert_repaired(whole, admin, finding)
    live = lambda_client.get_function_configuration(FunctionName=name, Qualifier=LIVE_ALIAS)
    assert live["Environment"]["Variables"]["QUEUE_URL"] == url
    assert int(live["Version"]) > int(version)


def test_the_doctor_plans_the_functions_with_the_options_their_tag_records(path, tmp_path):
    """A deployment the local runtime runs (no layer: the CA bundle where this machine has
    it) says so by its functions' tag; the doctor plans them so. Untagged, they are planned
    as AWS runs them (the bundle in the layer), and the drain's environment differs."""
    from infra.aws.dependency_layer import DATABASE_CA_ON_LAMBDA
    from infra.aws.doctor.path import PathNames, check_function
    from infra.aws.tags import LOCAL_RUNTIME_TAG

    ca = tmp_path / "ca.pem"
    ca.write_text("the cluster's CA bundle")
    deployment = replace(path.deployment, database_tls=True, database_tls_ca=str(ca))
    local = Context(deployment, path.target, options=path.options)  # unvendored
    apply_changes(order.plan(local))

    def drain_link():
        return check_function(PathNames(PathCheck(deployment), path.target), "drain", "drain", "")

    untagged = drain_link()
    drain = deployment.resource_name("drain")
    assert untagged.finding.problem.startswith(
        f"lambda function {drain}: update (configuration: Environment (DATABASE_TLS_CA: "
        f"{ca} -> {DATABASE_CA_ON_LAMBDA}))"
    )
    lambda_client = boto3.client("lambda")
    ingest = lambda_client.get_function(FunctionName=deployment.resource_name("ingest"))
    lambda_client.tag_resource(
        Resource=ingest["Configuration"]["FunctionArn"],
        Tags={LOCAL_RUNTIME_TAG: "infra/local/lambda_runtime.py"},
    )
    tagged = drain_link()
    assert tagged.ok, tagged.finding
    assert tagged.detail == f"{drain}:live (version 1)"


def test_on_aws_the_functions_fix_applies_the_layer_too():
    """The functions name the layer's version, which only the layer's plan finds: on AWS
    (dependencies vendored) the fix applies both; the local runtime's has no layer."""
    from infra.aws.doctor.path import PathNames
    from infra.aws.resources.context import EventPathOptions, Target
    from infra.catalog import Deployment

    target = Target(account="123456789012", region="us-east-1")
    for options, fix in (
        (EventPathOptions(), "--only layer --only functions"),
        (EventPathOptions(vendor_dependencies=False), "--only functions"),
    ):
        names = PathNames(PathCheck(Deployment(prefix="p"), options=options), target)
        command = names.deploy_apply_only(["functions"])
        assert command == f"aurora-events deploy apply --prefix p {fix}"


# -- queue -------------------------------------------------------------------------------


def test_a_queue_without_its_redrive_policy_is_found_and_applying_the_queues_repairs_it(
    whole, admin, deploy_settings
):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{whole.prefix}-ingest.fifo")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
    finding = first_broken(whole, admin, "queue")
    assert finding.problem.startswith(
        f"sqs queue {whole.prefix}-ingest.fifo: update (RedrivePolicy: None -> "
    )
    assert finding.problem.endswith(
        "a message the drain can never write is retried forever, holding up its customer, or "
        "goes astray"
    )
    assert finding.fix == f"aurora-events deploy apply --prefix {whole.prefix} --only queues"
    assert_repaired(whole, admin, finding)
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert int(policy["maxReceiveCount"]) == queue_spec("ingest").max_receive_count
    assert policy["deadLetterTargetArn"].endswith(f":{whole.prefix}-ingest-dlq.fifo")


def test_messages_in_the_dlq_are_a_warning_not_a_broken_link(whole, admin):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{whole.prefix}-ingest-dlq.fifo")["QueueUrl"]
    for n in range(2):
        sqs.send_message(
            QueueUrl=url, MessageBody=f"dead {n}", MessageGroupId="g", MessageDeduplicationId=f"{n}"
        )
    diagnosis = diagnose(whole, admin)
    assert diagnosis.ok
    queue = next(r for r in diagnosis.links if r.link == "queue")
    assert queue.detail.endswith("2 message(s) in the DLQ")
    assert queue.warning == (
        f"2 message(s) wait in {whole.prefix}-ingest-dlq.fifo: find why the drain could not "
        "write them (its logs), then aurora-events replay"
    )
    assert f"{'':20} warning: 2 message(s) wait in" in doctor.render_diagnosis(diagnosis)


# -- mapping -----------------------------------------------------------------------------


def drain_mapping(whole) -> dict:
    lambda_client = boto3.client("lambda")
    drain = lambda_client.get_alias(FunctionName=whole.function("drain"), Name=LIVE_ALIAS)
    (mapping,) = lambda_client.list_event_source_mappings(
        EventSourceArn=whole.path.queue_arn("ingest"), FunctionName=drain["AliasArn"]
    )["EventSourceMappings"]
    return mapping


MAPPING_FIX = "aurora-events deploy apply --prefix {prefix} --only event-sources"


def test_a_disabled_mapping_is_found_and_enabled_by_its_fix(whole, admin, deploy_settings):
    uuid = drain_mapping(whole)["UUID"]
    boto3.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=False)
    finding = first_broken(whole, admin, "mapping")
    assert finding.problem.startswith(
        f"event source mapping ingest -> {whole.prefix}-drain:live: update ({uuid}: Enabled: "
        "False -> True): requests wait in the queue"
    )
    assert finding.fix == MAPPING_FIX.format(prefix=whole.prefix)
    assert_repaired(whole, admin, finding)
    assert drain_mapping(whole)["State"] == "Enabled"


def test_a_mapping_without_partial_batch_responses_is_found_and_repaired(
    whole, admin, deploy_settings
):
    uuid = drain_mapping(whole)["UUID"]
    boto3.client("lambda").update_event_source_mapping(UUID=uuid, FunctionResponseTypes=[])
    finding = first_broken(whole, admin, "mapping")
    assert finding.problem.startswith(
        f"event source mapping ingest -> {whole.prefix}-drain:live: update ({uuid}: "
        "FunctionResponseTypes: [] -> ['ReportBatchItemFailures'])"
    )
    assert finding.fix == MAPPING_FIX.format(prefix=whole.prefix)
    assert_repaired(whole, admin, finding)
    assert drain_mapping(whole)["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_a_missing_mapping_is_found_and_applying_the_mappings_repairs_it(
    whole, admin, deploy_settings
):
    boto3.client("lambda").delete_event_source_mapping(UUID=drain_mapping(whole)["UUID"])
    finding = first_broken(whole, admin, "mapping")
    assert finding.problem.startswith(
        f"event source mapping ingest -> {whole.prefix}-drain:live: create (batch 10, max "
        "concurrency 5): requests wait in the queue"
    )
    assert finding.fix == MAPPING_FIX.format(prefix=whole.prefix)
    assert_repaired(whole, admin, finding)
    mapping = drain_mapping(whole)
    assert (mapping["BatchSize"], mapping["ScalingConfig"]) == (10, {"MaximumConcurrency": 5})


# -- drain -------------------------------------------------------------------------------


def test_a_drain_role_that_may_not_read_its_secret_is_found_and_applying_the_roles_repairs_it(
    whole, admin, deploy_settings
):
    iam = boto3.client("iam")
    role = whole.function("drain")
    policy = iam.get_role_policy(RoleName=role, PolicyName="least-privilege")["PolicyDocument"]
    policy["Statement"] = [
        s for s in policy["Statement"] if "secretsmanager:GetSecretValue" not in s["Action"]
    ]
    iam.put_role_policy(
        RoleName=role, PolicyName="least-privilege", PolicyDocument=json.dumps(policy)
    )
    finding = first_broken(whole, admin, "drain")
    secret = whole.path.secret_arn()
    assert finding.problem.startswith(f"iam role {role}")
    assert f"secretsmanager:GetSecretValue on {secret}" in finding.problem
    assert finding.problem.endswith(
        "where the drain's role may not read its secret every batch fails (AccessDenied), "
        "and the messages reach the DLQ"
    )
    assert finding.fix == f"aurora-events deploy apply --prefix {whole.prefix} --only roles"
    assert_repaired(whole, admin, finding)
    restored = iam.get_role_policy(RoleName=role, PolicyName="least-privilege")["PolicyDocument"]
    assert any("secretsmanager:GetSecretValue" in s["Action"] for s in restored["Statement"])


@pytest.fixture
def proxied(whole, monkeypatch):
    """``whole`` behind an RDS Proxy, as deploy applies it: rds_proxy on, in a network of
    its own (subnets, the functions' security group, the cluster the proxy fronts), the
    drain's DATABASE_HOST the proxy's endpoint, with TLS. A fix runs with those settings.
    Destroyed with ``whole`` (its prefix's proxy is retired with rds_proxy off)."""
    network = make_network()
    subnets = (network.subnet_a, network.subnet_b)
    deployment = replace(
        whole.path.deployment,
        rds_proxy=True,
        cluster=network.cluster,
        subnet_ids=subnets,
        security_group_ids=(network.functions_group,),
    )
    path = Context(deployment, options=whole.path.options)
    apply_changes(order.plan(path))
    for key, value in (
        ("AURORA_EVENTS_RDS_PROXY", "true"),
        ("AURORA_EVENTS_CLUSTER", network.cluster),
        ("AURORA_EVENTS_SUBNET_IDS", ",".join(subnets)),
        ("AURORA_EVENTS_SECURITY_GROUP_IDS", network.functions_group),
    ):
        monkeypatch.setenv(key, value)
    yield replace(whole, path=path, check=PathCheck(deployment, options=path.options)), network


def test_a_proxy_without_its_target_is_found_and_applying_the_proxy_repairs_it(
    proxied, admin, deploy_settings
):
    whole, network = proxied
    name = whole.function("proxy")
    boto3.client("rds").deregister_db_proxy_targets(
        DBProxyName=name, DBClusterIdentifiers=[network.cluster]
    )
    finding = first_broken(whole, admin, "drain")
    assert finding.problem == (
        f"rds proxy {name} target: register (cluster {network.cluster} in target group "
        "default): the drain connects through the proxy: without it, or without its target, "
        "every batch fails"
    )
    assert finding.fix == (
        f"aurora-events deploy apply --prefix {whole.prefix} --only rds-proxy --only functions"
    )
    run_fix(finding, admin)
    after = registered(whole, admin)
    assert after.finding is None, doctor.render_diagnosis(after)
    drain = next(r for r in after.links if r.link == "drain")
    assert drain.detail.endswith(f"; through RDS Proxy {name} (TLS), its targets AVAILABLE")


DRAIN_CONSEQUENCE = (
    "a drain not configured as declared (its VPC, its secret, its database host) may not "
    "reach the database"
)


def test_a_drain_that_bypasses_the_proxy_is_found_and_applying_the_functions_repairs_it(
    proxied, admin, deploy_settings
):
    whole, _ = proxied
    drain = whole.function("drain")
    lambda_client = boto3.client("lambda")
    live = lambda_client.get_alias(FunctionName=drain, Name=LIVE_ALIAS)["FunctionVersion"]
    # Version 1, from before the proxy: the secret's host, no VPC.
    lambda_client.update_alias(FunctionName=drain, Name=LIVE_ALIAS, FunctionVersion="1")
    finding = registered(whole, admin).finding
    assert finding.link == "drain"
    assert finding.problem == (
        f"lambda function {drain} alias live: move (version 1 -> {live} (it holds the "
        f"declared settings)): {DRAIN_CONSEQUENCE}"
    )
    assert finding.fix == FUNCTIONS_FIX.format(prefix=whole.prefix)
    run_fix(finding, admin)
    assert registered(whole, admin).finding is None
    endpoint = boto3.client("rds").describe_db_proxies(DBProxyName=whole.function("proxy"))[
        "DBProxies"
    ][0]["Endpoint"]
    variables = lambda_client.get_function_configuration(FunctionName=drain, Qualifier="live")[
        "Environment"
    ]["Variables"]
    assert (variables["DATABASE_HOST"], variables["DATABASE_TLS"]) == (endpoint, "true")


def test_a_drain_that_reaches_the_proxy_without_tls_is_found_and_applying_the_functions_repairs_it(
    proxied, admin, deploy_settings
):
    whole, _ = proxied
    lambda_client = boto3.client("lambda")
    drain = whole.function("drain")
    variables = lambda_client.get_function_configuration(FunctionName=drain)["Environment"][
        "Variables"
    ]
    del variables["DATABASE_TLS"]
    lambda_client.update_function_configuration(
        FunctionName=drain, Environment={"Variables": variables}
    )
    version = lambda_client.publish_version(FunctionName=drain)["Version"]
    lambda_client.update_alias(FunctionName=drain, Name=LIVE_ALIAS, FunctionVersion=version)
    finding = registered(whole, admin).finding
    assert finding.link == "drain"
    assert finding.problem == (
        f"lambda function {drain}: update (configuration: Environment (DATABASE_TLS: unset "
        f"-> true)); lambda function {drain} alias live: publish (a version of the changes "
        f"above; {version} -> the new version): {DRAIN_CONSEQUENCE}"
    )
    assert finding.fix == FUNCTIONS_FIX.format(prefix=whole.prefix)
    run_fix(finding, admin)
    assert registered(whole, admin).finding is None
    live = lambda_client.get_function_configuration(FunctionName=drain, Qualifier=LIVE_ALIAS)
    assert live["Environment"]["Variables"]["DATABASE_TLS"] == "true"


# -- database ----------------------------------------------------------------------------


def test_a_drain_account_without_insert_is_found_and_the_grant_repairs_it(whole, admin):
    with admin.cursor() as cursor:
        cursor.execute(f"REVOKE INSERT ON `{whole.schema}`.`orders` FROM '{whole.drain_user}'@'%'")
    finding = first_broken(whole, admin, "database")
    assert finding.problem == (
        f"the drain's account '{whole.drain_user}'@'%' lacks INSERT on {whole.schema}.orders: "
        "its batches fail (ERROR 1142) and the messages reach the DLQ"
    )
    assert finding.fix == (
        f"GRANT SELECT, INSERT ON `{whole.schema}`.`customers` TO '{whole.drain_user}'@'%';\n"
        f"GRANT SELECT, INSERT ON `{whole.schema}`.`orders` TO '{whole.drain_user}'@'%';\n"
        f"GRANT SELECT, INSERT ON `{whole.schema}`.`ingest_conflicts` "
        f"TO '{whole.drain_user}'@'%';"
    )
    assert_repaired(whole, admin, finding)


def test_a_drain_account_that_cannot_record_conflicts_is_found(whole, admin):
    table = f"`{whole.schema}`.`ingest_conflicts`"
    with admin.cursor() as cursor:
        cursor.execute(f"REVOKE INSERT ON {table} FROM '{whole.drain_user}'@'%'")
    finding = first_broken(whole, admin, "database")
    assert finding.problem == (
        f"the drain's account '{whole.drain_user}'@'%' lacks INSERT on "
        f"{whole.schema}.ingest_conflicts: its batches fail (ERROR 1142) and the messages "
        "reach the DLQ"
    )
    assert_repaired(whole, admin, finding)


def test_a_secret_with_the_wrong_password_is_found(whole, admin):
    secrets_client = boto3.client("secretsmanager")
    secret_id = whole.path.deployment.database_secret_id
    value = json.loads(secrets_client.get_secret_value(SecretId=secret_id)["SecretString"])
    secrets_client.put_secret_value(
        SecretId=secret_id, SecretString=json.dumps({**value, "password": "not-it"})
    )
    finding = first_broken(whole, admin, "database")
    assert finding.problem == (
        f"the server refuses the password in the drain's secret {secret_id} for "
        f"'{whole.drain_user}' (ERROR 1045): every batch fails"
    )
    assert finding.fix_kind == "manual"


def test_an_account_that_does_not_exist_is_found_and_its_hint_quotes_user_and_schema(
    whole, admin, stack, monkeypatch
):
    """The user and schema come from the secret: the hint's SQL and command line quote
    them as every other hint does (a string literal; a shell word), and run as printed."""
    from tests.infra.aws.test_commands import root_url

    secrets_client = boto3.client("secretsmanager")
    secret_id = whole.path.deployment.database_secret_id
    value = json.loads(secrets_client.get_secret_value(SecretId=secret_id)["SecretString"])

    def missing_account(user: str) -> doctor.Finding:
        secrets_client.put_secret_value(
            SecretId=secret_id, SecretString=json.dumps({**value, "username": user})
        )
        return first_broken(whole, admin, "database")

    # A quote in the name: doubled in the SQL literal, closed and reopened for the shell.
    finding = missing_account("o'neil")
    assert finding.problem == (
        f"no account named 'o''neil' on this server (the user in the drain's secret "
        f"{secret_id}): every batch fails with ERROR 1045"
    )
    assert finding.fix == (
        f"CREATE USER 'o''neil'@'%' IDENTIFIED BY '<the password in secret {secret_id}>'; "
        f"then aurora-events grant --drain-user 'o'\"'\"'neil' --database {whole.schema}"
    )
    # A quote, a space and a $: one shell word, not three (nor a variable). As printed,
    # with the secret's password for the placeholder, the fix makes the database link pass
    # (the grant check reads information_schema, whose GRANTEE leaves the quote single).
    user = unique("o'drain $ops ")
    finding = missing_account(user)
    create, grant = finding.fix.split("; then ")
    assert create == (
        f"CREATE USER {quote_string(user)}@'%' IDENTIFIED BY '<the password in secret {secret_id}>'"
    )
    assert (
        grant == f"aurora-events grant --drain-user {shlex.quote(user)} --database {whole.schema}"
    )
    with admin.cursor() as cursor:
        cursor.execute(
            create.replace(f"'<the password in secret {secret_id}>'", f"'{value['password']}'")
        )
    monkeypatch.setenv("AURORA_EVENTS_ADMIN_URL", root_url(stack))
    try:
        assert run_aurora_events(grant) == 0
        assert diagnose(whole, admin).finding is None
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP USER {quote_string(user)}@'%'")
    # A schema that needs quoting is one shell word too.
    assert drain_grant_command("drain", "shop data") == (
        "aurora-events grant --drain-user drain --database 'shop data'"
    )


# -- the command -------------------------------------------------------------------------


def test_the_doctor_command_checks_the_whole_path(whole, stack, capsys, deploy_settings):
    from tests.infra.aws.test_commands import arn_options, root_url

    # The doctor runs with the settings deploy runs with (deploy_settings): the plans need them.
    command = (
        f"aurora-events doctor --cluster {whole.config.cluster} --prefix {whole.prefix} "
        f"{arn_options(whole.config.function_arns)} --admin-url {root_url(stack, whole.schema)}"
    )
    assert run_aurora_events(command) == 0
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(("ok", "BROKEN"))] == [
        ["ok", link] for link in PATH_LINKS + CHAIN_LINKS
    ]
    assert out.endswith("every link checked is in place\n")

    uuid = drain_mapping(whole)["UUID"]
    boto3.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=False)
    assert run_aurora_events(command) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[3].startswith(
        f"BROKEN  mapping      event source mapping ingest -> {whole.prefix}-drain:live: update "
        f"({uuid}: Enabled: False -> True)"
    )
    assert out.endswith(f"fix (aurora-events):\n  {MAPPING_FIX.format(prefix=whole.prefix)}\n")
