"""Versions, the alias live, the dependencies layer and rollback, on moto: what a deploy
publishes (and what a second one does not), where callers point, and going back."""

import dataclasses
import io
import json
import re
import shutil
import zipfile

import boto3
import pytest

from infra.aws import packaging
from infra.aws.aurora.policies import invoke_policy_document
from infra.aws.changes import apply_changes
from infra.aws.function_versions import previous_version
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.packaging import build_function_zip, lambda_code_sha256
from infra.aws.resources import order
from infra.aws.resources.context import Context, EventPathOptions
from infra.aws.resources.layer import Layer
from infra.catalog import FUNCTIONS
from migrations.function_arns import FunctionArnError, resolve_function_arn
from tests.infra.aws.conftest import run_aurora_events
from tests.infra.aws.test_event_path import new_path

ZIP_LIMIT = 100 * 1024


def names_in(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def versions(name: str) -> list[str]:
    found = boto3.client("lambda").list_versions_by_function(FunctionName=name)["Versions"]
    return [v["Version"] for v in found]


def live(name: str) -> str:
    return boto3.client("lambda").get_alias(FunctionName=name, Name="live")["FunctionVersion"]


def layer_versions(prefix: str) -> list[dict]:
    return boto3.client("lambda").list_layer_versions(LayerName=f"{prefix}-dependencies")[
        "LayerVersions"
    ]


def again(path: Context) -> Context:
    """The same deployment planned afresh, as the next ``deploy apply`` would."""
    return Context(path.deployment, path.target, options=path.options)


@pytest.fixture
def layered(stack):
    """A deployment as on AWS: the layer published and attached (the sources are read,
    nothing runs them); destroyed after."""
    plain = new_path()
    path = Context(plain.deployment, plain.target, options=EventPathOptions())
    yield path
    apply_changes(order.plan_destroy(path))


def test_apply_from_nothing_publishes_the_layer_a_version_of_each_function_and_alias_live(
    layered, account_id
):
    prefix, region = layered.deployment.prefix, layered.target.region
    lambda_ = boto3.client("lambda")
    planned = [(c.action, c.resource) for c in order.plan(layered)]
    assert ("publish", f"lambda layer {prefix}-dependencies") in planned
    assert ("publish", f"lambda function {prefix}-notify alias live") in planned
    apply_changes(order.plan(layered))

    content = layered.resource(Layer).content()
    (layer,) = layer_versions(prefix)
    assert layer["Description"].startswith(
        f"aurora-events dependencies of {prefix}: aws-lambda-powertools=="
    )
    assert layer["Description"].endswith(
        f"; sha256 {layered.resource(Layer).package().content_hash}"
    )
    published = lambda_.get_layer_version(
        LayerName=f"{prefix}-dependencies", VersionNumber=layer["Version"]
    )
    assert published["Content"]["CodeSha256"] == lambda_code_sha256(content)
    assert {"python/pymysql/__init__.py", "python/aws_lambda_powertools/__init__.py"} <= set(
        names_in(content)
    )

    arn = f"arn:aws:lambda:{region}:{account_id}:function:{prefix}"
    for spec in FUNCTIONS:
        name = f"{prefix}-{spec.name}"
        assert versions(name) == ["$LATEST", "1"] and live(name) == "1"
        configuration = lambda_.get_function(FunctionName=name, Qualifier="live")["Configuration"]
        assert [x["Arn"] for x in configuration["Layers"]] == [layer["LayerVersionArn"]]
        # Each zip is the function's own code: its own sources, under 100 KB.
        code = build_function_zip(spec.handler)
        assert configuration["CodeSha256"] == lambda_code_sha256(code)
        assert configuration["CodeSize"] == len(code) < ZIP_LIMIT
    # Every caller goes through the alias: the mapping, the schedule's rule.
    assert (
        len(
            lambda_.list_event_source_mappings(FunctionName=f"{arn}-drain:live")[
                "EventSourceMappings"
            ]
        )
        == 1
    )
    targets = boto3.client("events").list_targets_by_rule(Rule=f"{prefix}-relay-schedule")
    assert [t["Arn"] for t in targets["Targets"]] == [f"{arn}-relay:live"]
    invoke = lambda_.get_function_event_invoke_config(
        FunctionName=f"{prefix}-notify", Qualifier="live"
    )
    assert invoke["MaximumRetryAttempts"] == 2

    # A second apply changes nothing: no layer version, no function version.
    assert order.plan(layered) == []
    assert order.plan(again(layered)) == []
    # The functions alone (deploy apply --only functions) find the layer's version too.
    assert order.plan(again(layered), only=("functions",)) == []
    assert len(layer_versions(prefix)) == 1
    assert {versions(f"{prefix}-{spec.name}")[-1] for spec in FUNCTIONS} == {"1"}

    # Destroy leaves nothing: nothing tagged (functions with their versions and aliases,
    # queues, topics; rules and roles are not in the tagging API), no layer version.
    apply_changes(order.plan_destroy(layered))
    tagged = boto3.client("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "aurora-events:prefix", "Values": [prefix]}]
    )["ResourceTagMappingList"]
    assert tagged == []
    functions = [f["FunctionName"] for f in lambda_.list_functions()["Functions"]]
    assert not [f for f in functions if f.startswith(f"{prefix}-")]
    assert boto3.client("events").list_rules(NamePrefix=prefix)["Rules"] == []
    roles = [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith(f"{prefix}-")]
    assert layer_versions(prefix) == []
    assert order.plan_destroy(layered) == []


def test_a_new_layer_content_publishes_a_layer_version_and_a_version_of_each_function(
    layered, monkeypatch
):
    prefix = layered.deployment.prefix
    apply_changes(order.plan(layered))
    built = packaging.build_layer

    def with_an_upgrade(libraries, cache=None, **options):
        archive = zipfile.ZipFile(io.BytesIO(built(libraries, cache, **options).zip))
        files = {name: archive.read(name) for name in archive.namelist()}
        files["python/upgraded.py"] = b"x = 1\n"
        return packaging.LayerPackage(
            packaging.reproducible_zip(files), packaging.layer_content_hash(files)
        )

    monkeypatch.setattr("infra.aws.dependency_layer.build_layer", with_an_upgrade)
    upgraded = again(layered)
    plan = [(c.action, c.resource) for c in order.plan(upgraded)]
    assert plan[0] == ("publish", f"lambda layer {prefix}-dependencies")
    for spec in FUNCTIONS:
        name = f"{prefix}-{spec.name}"
        assert ("update", f"lambda function {name}") in plan
        assert ("publish", f"lambda function {name} alias live") in plan
    apply_changes(order.plan(upgraded))

    newest = layer_versions(prefix)[0]
    assert [v["Version"] for v in layer_versions(prefix)] == [2, 1]
    for spec in FUNCTIONS:
        name = f"{prefix}-{spec.name}"
        assert live(name) == "2"
        configuration = boto3.client("lambda").get_function(FunctionName=name, Qualifier="live")
        assert [x["Arn"] for x in configuration["Configuration"]["Layers"]] == [
            newest["LayerVersionArn"]
        ]
    assert order.plan(again(upgraded)) == []


def test_with_the_public_powertools_layer_the_projects_layer_holds_pymysql_only(stack):
    plain = new_path()
    # A stand-in for AWS's public layer (moto checks that a function's layers exist).
    public = boto3.client("lambda").publish_layer_version(
        LayerName=f"{plain.deployment.prefix}-public-powertools",
        Content={"ZipFile": packaging.reproducible_zip({"python/x.py": b""})},
    )["LayerVersionArn"]
    deployment = dataclasses.replace(plain.deployment, powertools_layer_arn=public)
    path = Context(deployment, plain.target, options=EventPathOptions())
    try:
        apply_changes(order.plan(path))
        prefix = deployment.prefix
        (ours,) = layer_versions(prefix)
        assert "aws-lambda-powertools" not in ours["Description"]
        tops = {name.split("/")[1] for name in names_in(path.resource(Layer).content())}
        assert "pymysql" in tops and "aws_lambda_powertools" not in tops
        layers = {
            spec.name: [
                x["Arn"]
                for x in boto3.client("lambda").get_function(
                    FunctionName=f"{prefix}-{spec.name}", Qualifier="live"
                )["Configuration"]["Layers"]
            ]
            for spec in FUNCTIONS
        }
        mine = ours["LayerVersionArn"]
        assert layers == {
            "notify": [public],
            "email": [public],
            "ingest": [public],
            "drain": [mine, public],
            "relay": [mine, public],
        }
        assert order.plan(again(path)) == []
    finally:
        apply_changes(order.plan_destroy(path))
        boto3.client("lambda").delete_layer_version(
            LayerName=f"{plain.deployment.prefix}-public-powertools", VersionNumber=1
        )


@pytest.fixture
def changed_notify(tmp_path, monkeypatch):
    """Make the packaging read a copy of the sources; returns a function that changes
    notify's code in it."""
    root = tmp_path / "src"
    for package in ("functions", "sql"):
        shutil.copytree(
            packaging.REPO_ROOT / package,
            root / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    monkeypatch.setattr(packaging, "REPO_ROOT", root)

    def change(text: str) -> None:
        with (root / "functions/notify/messages.py").open("a") as module:
            module.write(f"\n# {text}\n")

    return change


def test_a_code_change_publishes_one_version_of_that_function_and_rollback_moves_it_back(
    path, changed_notify, capsys
):
    prefix = path.deployment.prefix
    notify = f"{prefix}-notify"
    apply_changes(order.plan(path))

    changed_notify("a fix")
    changed = again(path)
    plan = order.plan(changed)
    assert re.fullmatch(r"code \(zip \d+ KiB\)", plan[0].detail)  # its size, whatever it is
    assert plan[0].action == "update" and plan[0].resource == f"lambda function {notify}"
    assert [(c.action, c.resource, c.detail) for c in plan[1:]] == [
        (
            "publish",
            f"lambda function {notify} alias live",
            "a version of the changes above; 1 -> the new version",
        ),
    ]
    apply_changes(order.plan(changed))
    assert versions(notify) == ["$LATEST", "1", "2"] and live(notify) == "2"
    others = [f"{prefix}-{spec.name}" for spec in FUNCTIONS if spec.name != "notify"]
    assert {name: versions(name) for name in others} == {name: ["$LATEST", "1"] for name in others}
    assert order.plan(again(path)) == []

    # Rollback of one function: its alias goes back one version, nothing else moves.
    assert run_aurora_events(f"aurora-events deploy rollback notify --prefix {prefix}") == 0
    assert capsys.readouterr().out == (
        f"rollback   lambda function {notify} alias live: version 2 -> 1\n"
    )
    assert live(notify) == "1" and versions(notify) == ["$LATEST", "1", "2"]
    # The next apply of the same checkout moves it forward again, publishing nothing.
    assert [(c.action, c.detail) for c in order.plan(again(path))] == [
        ("move", "version 1 -> 2 (it holds the declared code and settings)")
    ]

    # No earlier version: one line, exit 2, nothing moved.
    assert run_aurora_events(f"aurora-events deploy rollback notify --prefix {prefix}") == 2
    output = capsys.readouterr()
    assert output.out == ""
    assert output.err == (
        f"aurora-events: function {notify}: alias live is at version 1, and there is no "
        "earlier version to roll back to\n"
    )
    assert live(notify) == "1"

    # Every function: checked first, so one that cannot go back stops them all.
    apply_changes(order.plan(again(path)))
    assert live(notify) == "2"
    assert run_aurora_events(f"aurora-events deploy rollback --prefix {prefix}") == 2
    assert "alias live is at version 1" in capsys.readouterr().err
    assert live(notify) == "2"


def test_previous_version_is_the_highest_below_the_current_one():
    assert previous_version(["$LATEST", "1", "2", "5", "7"], "7") == "5"
    assert previous_version(["1", "2", "5", "7"], "5") == "2"
    assert previous_version(["$LATEST", "3"], "3") is None


def test_a_deployment_from_before_the_alias_is_moved_onto_it(path, account_id):
    """What an earlier deploy left: no alias, the mapping and the rule on the function
    itself, the rule's permission on the function itself."""
    prefix, region = path.deployment.prefix, path.target.region
    lambda_, events = boto3.client("lambda"), boto3.client("events")
    apply_changes(order.plan(path))
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{prefix}"
    rule = f"{prefix}-relay-schedule"
    rule_arn = f"arn:aws:events:{region}:{account_id}:rule/{rule}"
    lambda_.delete_alias(FunctionName=f"{prefix}-notify", Name="live")
    events.put_targets(Rule=rule, Targets=[{"Id": "relay", "Arn": f"{arn}-relay"}])
    lambda_.remove_permission(FunctionName=f"{prefix}-relay", StatementId=rule, Qualifier="live")
    lambda_.add_permission(
        FunctionName=f"{prefix}-relay",
        StatementId=rule,
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )

    plan = order.plan(path)
    assert [(c.action, c.resource, c.detail) for c in plan] == [
        (
            "create",
            f"lambda function {prefix}-notify alias live",
            "at version 1 (it holds the declared code and settings)",
        ),
        ("set", f"eventbridge rule {rule} target", f"{arn}-relay:live"),
        (
            "set",
            f"lambda function {prefix}-relay:live permission {rule}",
            f"events.amazonaws.com may invoke it, only from rule {rule_arn}",
        ),
        (
            "remove",
            f"lambda function {prefix}-relay permission {rule}",
            "the rule invokes the alias now",
        ),
    ]
    apply_changes(plan)
    assert live(f"{prefix}-notify") == "1"
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]] == [
        f"{arn}-relay:live"
    ]
    statements = json.loads(
        lambda_.get_policy(FunctionName=f"{prefix}-relay", Qualifier="live")["Policy"]
    )["Statement"]
    assert [(s["Sid"], s["Resource"]) for s in statements] == [(rule, f"{arn}-relay:live")]
    assert order.plan(path) == []


def test_a_mapping_to_the_function_itself_is_moved_to_the_alias(path, account_id):
    prefix, region = path.deployment.prefix, path.target.region
    lambda_ = boto3.client("lambda")
    apply_changes(order.plan(path))
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{prefix}-drain"
    queue = f"arn:aws:sqs:{region}:{account_id}:{prefix}-ingest.fifo"
    (mapping,) = lambda_.list_event_source_mappings(EventSourceArn=queue)["EventSourceMappings"]
    lambda_.delete_event_source_mapping(UUID=mapping["UUID"])
    earlier = lambda_.create_event_source_mapping(
        FunctionName=arn, EventSourceArn=queue, BatchSize=10, Enabled=False
    )

    (change,) = order.plan(path)
    assert (change.action, change.resource) == (
        "update",
        f"event source mapping ingest -> {prefix}-drain:live",
    )
    assert change.detail.startswith(f"from {arn} to the alias")
    apply_changes([change])
    (moved,) = lambda_.list_event_source_mappings(EventSourceArn=queue)["EventSourceMappings"]
    # The same mapping (no second poller), now on the alias (moto: its version's ARN).
    assert moved["UUID"] == earlier["UUID"]
    assert moved["FunctionArn"] == f"{arn}:1"
    assert moved["BatchSize"] == 10 and moved["ScalingConfig"] == {"MaximumConcurrency": 5}


def test_triggers_resolve_a_function_to_its_alias_live_and_old_arns_stay_allowed(path):
    prefix = path.deployment.prefix
    apply_changes(order.plan(path))
    environ = {"AURORA_EVENTS_PREFIX": prefix}
    arn = resolve_function_arn("notify", environ=environ)
    assert arn.endswith(f":function:{prefix}-notify:live")
    # Aurora's invoke policy allows the alias and, for triggers installed earlier, the
    # function itself.
    unqualified = arn.removesuffix(":live")
    (statement,) = invoke_policy_document([unqualified])["Statement"]
    assert statement["Resource"] == [unqualified, f"{unqualified}:*"]

    boto3.client("lambda").delete_alias(FunctionName=f"{prefix}-notify", Name="live")
    with pytest.raises(FunctionArnError) as missing:
        resolve_function_arn("notify", environ=environ)
    assert str(missing.value) == (
        f"function '{prefix}-notify' in us-east-1 has no alias 'live', which triggers call: "
        "run aurora-events deploy apply (it publishes a version and creates the alias), "
        "or set AURORA_EVENTS_FUNCTION_ARN_NOTIFY to the ARN to call"
    )


def test_a_layer_of_this_name_with_versions_not_ours_is_refused_and_left(layered):
    prefix = layered.deployment.prefix
    lambda_ = boto3.client("lambda")
    lambda_.publish_layer_version(
        LayerName=f"{prefix}-dependencies",
        Description="another team's libraries",
        Content={"ZipFile": packaging.reproducible_zip({"python/theirs.py": b""})},
    )
    with pytest.raises(ForeignResourceError) as refused:
        order.plan(layered)
    assert str(refused.value) == (
        f"lambda layer {prefix}-dependencies has versions this deployment did not publish "
        "(1); it may belong to something else. Delete them or choose another prefix"
    )
    assert order.plan_destroy(layered) == []
    assert [v["Description"] for v in layer_versions(prefix)] == ["another team's libraries"]
    lambda_.delete_layer_version(LayerName=f"{prefix}-dependencies", VersionNumber=1)
