from pathlib import Path

import pytest

from functions.relay.target_limits import MAX_BATCH_BYTES, BatchLimits, limits_from_env
from infra.catalog import (
    BATCH_SECONDS,
    FUNCTIONS,
    OUTBOX_TARGETS,
    SES_DEFAULT_SENDS_PER_SECOND,
    Deployment,
    TopicArn,
    function_spec,
    functions_markdown,
    resolve_environment,
    target_limits_markdown,
)

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The pages that hold the generated parts: the README the diagram, the docs all of them.
CONCEPTS = ROOT / "docs" / "concepts.md"
ALEMBIC = ROOT / "docs" / "alembic.md"


@pytest.mark.parametrize("page", [CONCEPTS], ids=lambda p: p.name)
def test_the_docs_function_table_is_the_catalogs(page):
    assert functions_markdown() in page.read_text(), (
        f"{page.name}'s function table is out of date: paste `aurora-events functions --markdown`"
    )


@pytest.mark.parametrize("page", [ALEMBIC], ids=lambda p: p.name)
def test_the_docs_batch_limits_table_is_the_catalogs(page):
    assert target_limits_markdown() in page.read_text(), (
        f"{page.name}'s batch limits are out of date: paste infra.catalog.target_limits_markdown()"
    )


def test_the_relay_reads_each_outbox_target_s_limits_from_the_environment_it_is_given():
    relay = resolve_environment(function_spec("relay"), Deployment(prefix="shop"), {})
    limits = limits_from_env(relay)
    assert limits.prefix == "shop"
    assert set(limits.by_name) == set(OUTBOX_TARGETS)
    for name in OUTBOX_TARGETS:
        declared = function_spec(name).batch_limits
        assert limits.by_name[name] == declared
        assert declared.bytes <= MAX_BATCH_BYTES
        arn = f"arn:aws:lambda:eu-west-1:123456789012:function:shop-{name}:live"
        assert limits.for_target(arn, BatchLimits(1, 1)) == declared


def test_email_s_batch_goes_out_within_its_time_at_ses_s_default_rate():
    """The reason for email's number: a full batch at 14 emails a second fits the time a
    batch may take (the timeout less the reserve for one more call and the answer)."""
    email = function_spec("email")
    assert email.timeout_seconds - 14 == BATCH_SECONDS
    assert email.batch_limits.events / SES_DEFAULT_SENDS_PER_SECOND <= BATCH_SECONDS
    # notify: 10 entries a PublishBatch call, at 50 ms a call within a third of that time.
    assert function_spec("notify").batch_limits.events / 10 * 0.05 <= BATCH_SECONDS / 3


def test_readme_architecture_diagram_is_drawn_from_the_catalog(capsys):
    from infra.cli import main
    from infra.diagram import architecture

    drawn = architecture()
    for page in (README, CONCEPTS):
        assert drawn in page.read_text(), (
            f"{page.name}'s deployed architecture is out of date: paste "
            "`aurora-events functions --diagram`"
        )
    for spec in FUNCTIONS:
        assert f"aurora-events-{spec.name}:live" in drawn
    for name in ("ingest.fifo", "ingest-dlq.fifo", "lambda-failures", "relay-schedule"):
        assert f"aurora-events-{name}" in drawn
    assert "POST /customers, POST /orders" in drawn
    # The names are the deployment's: its prefix and stage.
    assert main(["functions", "--diagram"]) == 0
    assert capsys.readouterr().out.strip() == drawn
    other = architecture(Deployment(prefix="shop", api_stage="v1"))
    assert "shop-api, stage v1" in other
    assert "aurora-events" not in other.replace("aurora-events replay", "")


def test_every_handler_names_a_module_in_functions():
    root = Path(__file__).resolve().parents[2]
    for spec in FUNCTIONS:
        module = spec.handler.rsplit(".", 1)[0]
        assert (root / (module.replace(".", "/") + ".py")).is_file(), spec.handler


def test_environment_references_are_resolved():
    spec = function_spec("notify")
    assert spec.environment == {"TOPIC_ARN": TopicArn("notifications")}
    env = resolve_environment(spec, Deployment(), {"notifications": "arn:topic"})
    assert env == {"TOPIC_ARN": "arn:topic"}
    email = resolve_environment(function_spec("email"), Deployment(email_to="x@example.com"), {})
    assert email["EMAIL_TO"] == "x@example.com"


def test_unknown_function_is_named():
    with pytest.raises(KeyError, match="no function 'nope' in the catalog"):
        function_spec("nope")


def test_deployment_prefix_comes_from_the_environment():
    assert (
        Deployment.from_env({"AURORA_EVENTS_PREFIX": "shop"}).resource_name("notify")
        == "shop-notify"
    )
    assert Deployment.from_env({}).resource_name("notify") == "aurora-events-notify"


def test_every_deployment_setting_has_its_variable_and_is_read_from_it():
    from dataclasses import fields

    from infra.catalog import DEPLOYMENT_VARIABLES

    assert set(DEPLOYMENT_VARIABLES) == {f.name for f in fields(Deployment)}
    environ = {names[0]: f"{key}-value" for key, names in DEPLOYMENT_VARIABLES.items()}
    environ["AURORA_EVENTS_SUBNET_IDS"] = "subnet-a, subnet-b,"
    environ.update(
        AURORA_EVENTS_API_BURST_LIMIT="7",
        AURORA_EVENTS_API_RATE_LIMIT="3",
        AURORA_EVENTS_RDS_PROXY="true",
        AURORA_EVENTS_VPC_ENDPOINTS="no",
        AURORA_EVENTS_RELAY_RESERVED_CONCURRENCY="4",
        AURORA_EVENTS_DATABASE_TLS="yes",
    )
    deployment = Deployment.from_env(environ)
    assert (deployment.api_burst_limit, deployment.api_rate_limit) == (7, 3)
    assert deployment.database_tls is True
    assert deployment.relay_reserved_concurrency == 4
    assert (deployment.rds_proxy, deployment.vpc_endpoints) == (True, False)
    assert deployment.api_stage == "api_stage-value"
    assert deployment.subnet_ids == ("subnet-a", "subnet-b")
    assert deployment.security_group_ids == ("security_group_ids-value",)
    assert deployment.cluster == "cluster-value"
    assert Deployment.from_env({"AURORA_EVENTS_EMAIL_FROM": ""}) == Deployment()


def test_the_relays_concurrency_is_one_setting_on_aws_and_locally():
    """relay_reserved_concurrency is what deploy puts as the relay's reserved concurrency
    and how many containers the local runtime gives it; 0 is no reservation (the runtime's
    default locally); the other functions declare none."""
    from infra.aws.resources.live import LiveResources
    from infra.catalog import reserved_concurrency
    from infra.local.container_pool import LocalFunction
    from infra.local.stack import local_functions

    names = [spec.name for spec in FUNCTIONS]
    resources = LiveResources(
        function_arns={
            name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in names
        },
        function_environments={name: {} for name in names},
    )
    relay = function_spec("relay")
    for setting, expected in ((2, 2), (5, 5), (0, LocalFunction.concurrency)):
        deployment = Deployment(relay_reserved_concurrency=setting)
        assert reserved_concurrency(relay, deployment) == (setting or None)
        local = {f.name: f.concurrency for f in local_functions(deployment, resources)}
        assert local == {
            deployment.resource_name(name): expected
            if name == "relay"
            else LocalFunction.concurrency
            for name in names
        }
        assert [s.name for s in FUNCTIONS if reserved_concurrency(s, deployment)] == (
            ["relay"] if setting else []
        )
    assert Deployment.from_env({"AURORA_EVENTS_RELAY_RESERVED_CONCURRENCY": "4"}) == Deployment(
        relay_reserved_concurrency=4
    )
