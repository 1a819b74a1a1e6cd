"""plan / apply / destroy of the event path on moto: documents, idempotence, drift, cleanup."""

import io
import itertools
import json
import zipfile
from pathlib import Path

import boto3
import pytest

from infra.aws.changes import apply_changes, describe_plan
from infra.aws.event_path import EventPath
from infra.aws.packaging import build_functions_zip
from infra.catalog import Deployment

_numbers = itertools.count(1)


@pytest.fixture
def path(stack):
    prefix = f"t4e{next(_numbers)}"
    secret = boto3.client("secretsmanager").create_secret(
        Name=f"{prefix}-db",
        SecretString=json.dumps({"username": "u", "password": "p", "host": "h"}),
    )["ARN"]
    deployment = Deployment(
        prefix=prefix,
        email_from=f"{prefix}@example.com",
        database_secret_id=f"{prefix}-db",
        package_dependencies=False,
    )
    event_path = EventPath(deployment)
    event_path.secret = secret
    yield event_path
    apply_changes(event_path.plan_destroy())


def role_policy(prefix, function):
    return boto3.client("iam").get_role_policy(
        RoleName=f"{prefix}-{function}", PolicyName="least-privilege"
    )["PolicyDocument"]


def statements_by_sid(document):
    return {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in document["Statement"]}


def test_apply_from_nothing_creates_everything_with_least_privilege(path, account_id):
    prefix, region = path.deployment.prefix, path.target.region
    apply_changes(path.plan())

    arn = f"{region}:{account_id}"
    logs = f"arn:aws:logs:{arn}:log-group:/aws/lambda/{prefix}-notify"
    assert statements_by_sid(role_policy(prefix, "notify")) == {
        "OwnLogs": (
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [logs, f"{logs}:*"],
        ),
        "Declared1": (["sns:Publish"], f"arn:aws:sns:{arn}:{prefix}-notifications"),
        "OnFailureDestination": (
            ["sqs:SendMessage"],
            f"arn:aws:sqs:{arn}:{prefix}-lambda-failures",
        ),
    }
    drain = statements_by_sid(role_policy(prefix, "drain"))
    assert drain["Declared1"] == (
        [
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
        ],
        f"arn:aws:sqs:{arn}:{prefix}-ingest.fifo",
    )
    assert drain["Declared2"] == (["secretsmanager:GetSecretValue"], path.secret)
    assert "OnFailureDestination" not in drain
    assert statements_by_sid(role_policy(prefix, "email"))["Declared1"] == (
        ["ses:SendEmail", "ses:SendRawEmail"],
        f"arn:aws:ses:{arn}:identity/{prefix}@example.com",
    )
    assert statements_by_sid(role_policy(prefix, "ingest"))["Declared1"] == (
        ["sqs:SendMessage"],
        f"arn:aws:sqs:{arn}:{prefix}-ingest.fifo",
    )
    trust = boto3.client("iam").get_role(RoleName=f"{prefix}-drain")["Role"][
        "AssumeRolePolicyDocument"
    ]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]

    sqs = boto3.client("sqs")
    ingest = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName=f"{prefix}-ingest.fifo")["QueueUrl"],
        AttributeNames=["All"],
    )["Attributes"]
    assert ingest["FifoQueue"] == "true" and ingest["ContentBasedDeduplication"] == "false"
    assert ingest["VisibilityTimeout"] == "180"
    assert json.loads(ingest["RedrivePolicy"]) == {
        "deadLetterTargetArn": f"arn:aws:sqs:{arn}:{prefix}-ingest-dlq.fifo",
        "maxReceiveCount": 10,
    }

    lambda_client = boto3.client("lambda")
    (mapping,) = lambda_client.list_event_source_mappings(FunctionName=f"{prefix}-drain")[
        "EventSourceMappings"
    ]
    assert mapping["BatchSize"] == 10
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    invoke = lambda_client.get_function_event_invoke_config(FunctionName=f"{prefix}-notify")
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        f"{prefix}-lambda-failures"
    )
    notify = lambda_client.get_function(FunctionName=f"{prefix}-notify")
    assert notify["Configuration"]["Environment"]["Variables"] == {
        "TOPIC_ARN": f"arn:aws:sns:{arn}:{prefix}-notifications"
    }
    assert notify["Tags"]["project"] == "aurora-events"

    assert path.plan() == []  # a second apply changes nothing
    assert describe_plan(path.plan()) == "no changes: everything is as declared"


def test_plan_after_manual_changes_shows_exactly_that_drift(path):
    prefix = path.deployment.prefix
    apply_changes(path.plan())
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{prefix}-ingest.fifo")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "30"})
    policy = role_policy(prefix, "notify")
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "Declared1"]
    boto3.client("iam").put_role_policy(
        RoleName=f"{prefix}-notify", PolicyName="least-privilege", PolicyDocument=json.dumps(policy)
    )

    drift = path.plan()
    assert [(c.action, c.resource) for c in drift] == [
        ("update", f"sqs queue {prefix}-ingest.fifo"),
        ("update", f"iam role {prefix}-notify policy least-privilege"),
    ]
    assert drift[0].detail == "VisibilityTimeout: 30 -> 180"
    apply_changes(drift)
    assert path.plan() == []


def test_destroy_removes_only_what_is_tagged_ours(path):
    prefix = path.deployment.prefix
    apply_changes(path.plan())
    sqs = boto3.client("sqs")
    foreign = sqs.create_queue(QueueName=f"{prefix}-not-ours")["QueueUrl"]  # same prefix, no tags

    done = apply_changes(path.plan_destroy())
    assert {c.action for c in done} == {"delete"}
    functions = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    assert not [f for f in functions if f.startswith(f"{prefix}-")]
    remaining = sqs.list_queues(QueueNamePrefix=f"{prefix}-").get("QueueUrls", [])
    assert remaining == [foreign]
    roles = [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith(f"{prefix}-")]
    topics = [t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]]
    assert not [t for t in topics if f":{prefix}-" in t]
    assert path.plan_destroy() == []
    sqs.delete_queue(QueueUrl=foreign)


def test_a_missing_database_secret_is_named(stack):
    path = EventPath(
        Deployment(prefix="t4nosecret", database_secret_id="nope", package_dependencies=False)
    )
    with pytest.raises(Exception, match="database secret 'nope' does not exist"):
        path.plan()


def test_every_handler_imports_from_the_package_alone(tmp_path):
    """Unzipped, the package must be all a handler needs next to the Lambda runtime's boto3."""
    import subprocess
    import sys

    import boto3 as runtime_boto3

    from infra.catalog import FUNCTIONS

    target = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(build_functions_zip(True, cache=tmp_path / "deps"))).extractall(
        target
    )
    # boto3 and its dependencies, as on Lambda; -S keeps the editable install (which would
    # make this repository importable) out of sys.path.
    runtime = str(Path(runtime_boto3.__file__).resolve().parents[1])
    handlers = [spec.handler.rsplit(".", 1)[0] for spec in FUNCTIONS]
    script = (
        f"import sys; sys.path[:0] = [{str(target)!r}, {runtime!r}]\n"
        f"import importlib\n"
        f"for name in {handlers!r}: importlib.import_module(name)\n"
        f"import functions, sql; assert functions.__file__.startswith({str(target)!r})\n"
        f"assert sql.__file__.startswith({str(target)!r}); print('ok')\n"
    )
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "TOPIC_ARN": "arn:t",
        "QUEUE_URL": "q",
        "EMAIL_FROM": "a@example.com",
        "EMAIL_TO": "b@example.com",
        "PATH": "/usr/bin",
    }
    # cwd: not the repository, which python -c would put on sys.path
    result = subprocess.run(
        [sys.executable, "-S", "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_the_package_vendors_the_libraries_but_not_boto3(tmp_path):
    names = zipfile.ZipFile(io.BytesIO(build_functions_zip(True, cache=tmp_path))).namelist()
    assert "functions/drain/handler.py" in names
    assert "functions/common/events.py" in names
    assert "sql/ingest/insert_rows.sql" in names
    assert any(n.startswith("pymysql/") for n in names)
    assert any(n.startswith("aws_lambda_powertools/") for n in names)
    assert not any(n.startswith(("boto3/", "botocore/")) for n in names)
    again = build_functions_zip(True, cache=tmp_path)
    assert again == build_functions_zip(True, cache=tmp_path)  # reproducible
