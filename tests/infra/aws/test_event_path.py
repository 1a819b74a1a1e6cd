"""plan / apply / destroy of the event path on moto: documents, idempotence, drift, cleanup."""

import contextlib
import itertools
import json

import boto3
import pytest

from functions.relay.target_limits import TargetLimits, limits_from_env
from infra.aws.changes import apply_changes, describe_plan
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.resources import order
from infra.aws.resources.context import Context, EventPathOptions
from infra.catalog import Deployment, outbox_target_limits

_numbers = itertools.count(1)
# The sources alone: the tests read the zip, nothing runs it.
UNVENDORED = EventPathOptions(vendor_dependencies=False)


def new_path(**options) -> Context:
    """An event path with a prefix of its own (and its database secret)."""
    prefix = f"t4e{next(_numbers)}"
    secret = boto3.client("secretsmanager").create_secret(
        Name=f"{prefix}-db",
        SecretString=json.dumps({"username": "u", "password": "p", "host": "h"}),
    )["ARN"]
    boto3.client("secretsmanager").create_secret(
        Name=f"{prefix}-relay-db",
        SecretString=json.dumps({"username": "r", "password": "p", "host": "h"}),
    )
    deployment = Deployment(
        prefix=prefix,
        email_from=f"{prefix}@example.com",
        database_secret_id=f"{prefix}-db",
        relay_database_secret_id=f"{prefix}-relay-db",
        **options,
    )
    event_path = Context(deployment, options=UNVENDORED)
    event_path.secret = secret
    return event_path


@pytest.fixture(scope="session")
def vpc_access_policy(account_id) -> str:
    """AWS's managed AWSLambdaVPCAccessExecutionRole, in the moto server's IAM.

    moto loads AWS's managed policies only when MOTO_IAM_LOAD_MANAGED_POLICIES is set
    before its IAM starts; the stack's server (a thread of this process) starts without
    them, so this one is added from moto's own copy of AWS's data.
    """
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, iam_backends

    name = "AWSLambdaVPCAccessExecutionRole"
    data = json.loads(aws_managed_policies_data)[name]
    policy = AWSManagedPolicy.from_data(name, account_id, "us-east-1", data)
    iam_backends[account_id]["aws"].managed_policies.setdefault(policy.arn, policy)
    return policy.arn


def role_policy(prefix, function):
    return boto3.client("iam").get_role_policy(
        RoleName=f"{prefix}-{function}", PolicyName="least-privilege"
    )["PolicyDocument"]


def statements_by_sid(document):
    return {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in document["Statement"]}


def test_apply_from_nothing_creates_everything_with_least_privilege(deployed, account_id):
    path = deployed.path
    prefix, region = path.deployment.prefix, path.target.region

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
    # The mapping invokes the drain's alias live (moto reports the alias's version's ARN).
    drain_live = f"arn:aws:lambda:{arn}:function:{prefix}-drain:live"
    (mapping,) = lambda_client.list_event_source_mappings(FunctionName=drain_live)[
        "EventSourceMappings"
    ]
    assert mapping["FunctionArn"] == f"arn:aws:lambda:{arn}:function:{prefix}-drain:1"
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
    # The relay learns its targets' batch limits, and the prefix that names them, from
    # the environment the catalog gave it.
    relay = lambda_client.get_function(FunctionName=f"{prefix}-relay")["Configuration"]
    assert limits_from_env(relay["Environment"]["Variables"]) == TargetLimits(
        prefix, outbox_target_limits()
    )

    assert order.plan(path) == []  # a second apply changes nothing
    assert describe_plan(order.plan(path)) == "no changes: everything is as declared"


def test_plan_after_manual_changes_shows_exactly_that_drift(deployed_to_change):
    path = deployed_to_change
    prefix = path.deployment.prefix
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{prefix}-ingest.fifo")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "30"})
    policy = role_policy(prefix, "notify")
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "Declared1"]
    boto3.client("iam").put_role_policy(
        RoleName=f"{prefix}-notify", PolicyName="least-privilege", PolicyDocument=json.dumps(policy)
    )

    drift = order.plan(path)
    assert [(c.action, c.resource) for c in drift] == [
        ("update", f"sqs queue {prefix}-ingest.fifo"),
        ("update", f"iam role {prefix}-notify policy least-privilege"),
    ]
    assert drift[0].detail == "VisibilityTimeout: 30 -> 180"
    apply_changes(drift)
    assert order.plan(path) == []


def test_the_functions_configuration_plan_builds_no_zip_and_finds_what_the_plan_finds(
    deployed_to_change, monkeypatch
):
    """The doctor's view of the functions: their plan, the code aside. It builds no zip,
    finds nothing on a deployment as declared, and after a change by hand lists the very
    changes of the whole plan (configuration, then a version for the alias)."""
    from infra.aws.resources import functions as functions_module
    from infra.aws.resources.functions import Functions
    from infra.catalog import FUNCTIONS

    path = deployed_to_change
    fresh = Context(path.deployment, path.target, options=path.options)
    with monkeypatch.context() as patched:

        def no_zip(handler):
            raise AssertionError(f"the configuration plan built the zip of {handler}")

        patched.setattr(functions_module, "build_function_zip", no_zip)
        functions = fresh.resource(Functions)
        assert list(functions.plan_configuration([spec.name for spec in FUNCTIONS])) == []
        lambda_ = boto3.client("lambda")
        name = path.deployment.resource_name("notify")
        variables = lambda_.get_function_configuration(FunctionName=name)["Environment"][
            "Variables"
        ]
        lambda_.update_function_configuration(
            FunctionName=name, Environment={"Variables": {**variables, "TOPIC_ARN": "arn:x"}}
        )
        drift = list(functions.plan_configuration(["notify"]))
        # Missing only: the function and its alias exist, nothing is missing.
        assert list(functions.plan_configuration(["notify"], missing=True)) == []
    assert [(c.action, c.resource, c.detail) for c in drift] == [
        (
            "update",
            f"lambda function {name}",
            f"configuration: Environment (TOPIC_ARN: arn:x -> {variables['TOPIC_ARN']})",
        ),
        (
            "publish",
            f"lambda function {name} alias live",
            "a version of the changes above; 1 -> the new version",
        ),
    ]
    whole = order.plan(Context(path.deployment, path.target, options=path.options))
    assert [(c.action, c.resource, c.detail) for c in whole] == [
        (c.action, c.resource, c.detail) for c in drift
    ]


def test_destroy_removes_only_what_is_tagged_ours(path):
    prefix = path.deployment.prefix
    apply_changes(order.plan(path))
    sqs = boto3.client("sqs")
    foreign = sqs.create_queue(QueueName=f"{prefix}-not-ours")["QueueUrl"]  # same prefix, no tags

    done = apply_changes(order.plan_destroy(path)).done
    assert {c.action for c in done} == {"delete"}
    functions = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    assert not [f for f in functions if f.startswith(f"{prefix}-")]
    remaining = sqs.list_queues(QueueNamePrefix=f"{prefix}-").get("QueueUrls", [])
    assert remaining == [foreign]
    roles = [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith(f"{prefix}-")]
    topics = [t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]]
    assert not [t for t in topics if f":{prefix}-" in t]
    assert order.plan_destroy(path) == []
    sqs.delete_queue(QueueUrl=foreign)


def test_a_missing_database_secret_is_named(stack):
    path = Context(Deployment(prefix="t4nosecret", database_secret_id="nope"), options=UNVENDORED)
    with pytest.raises(Exception, match="database secret 'nope' does not exist"):
        order.plan(path)


# -- least privilege: the drain in a VPC, roles that are not ours ------------------------


def attached(role_name: str) -> list[str]:
    return [
        p["PolicyArn"]
        for p in boto3.client("iam").list_attached_role_policies(RoleName=role_name)[
            "AttachedPolicies"
        ]
    ]


VPC_STATEMENT = {
    "Sid": "VpcNetworkInterfaces",
    "Effect": "Allow",
    "Action": [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ],
    "Resource": "*",
}


def test_an_in_vpc_drain_gets_its_network_permissions_inline_and_no_managed_policy(
    deployed_in_vpc, account_id
):
    vpc_path = deployed_in_vpc.path
    prefix, region = vpc_path.deployment.prefix, vpc_path.target.region

    assert attached(f"{prefix}-drain") == []
    logs = f"arn:aws:logs:{region}:{account_id}:log-group:/aws/lambda/{prefix}-drain"
    assert role_policy(prefix, "drain") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [logs, f"{logs}:*"],
            },
            {
                "Sid": "Declared1",
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                "Resource": f"arn:aws:sqs:{region}:{account_id}:{prefix}-ingest.fifo",
            },
            {
                "Sid": "Declared2",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": vpc_path.secret,
            },
            VPC_STATEMENT,
        ],
    }
    # Functions outside the VPC get no network statement.
    assert "VpcNetworkInterfaces" not in statements_by_sid(role_policy(prefix, "notify"))
    configuration = boto3.client("lambda").get_function(FunctionName=f"{prefix}-drain")
    assert configuration["Configuration"]["VpcConfig"]["SubnetIds"] == ["subnet-0aa", "subnet-0bb"]
    assert order.plan(vpc_path) == []


def test_apply_detaches_the_managed_vpc_policy_an_earlier_deployment_attached(
    deployed_in_vpc_to_change, vpc_access_policy
):
    vpc_path = deployed_in_vpc_to_change
    prefix = vpc_path.deployment.prefix
    role = f"{prefix}-drain"
    # As an earlier version left it: no network statement inline, the managed policy attached.
    iam = boto3.client("iam")
    earlier = role_policy(prefix, "drain")
    earlier["Statement"] = [s for s in earlier["Statement"] if s["Sid"] != "VpcNetworkInterfaces"]
    iam.put_role_policy(
        RoleName=role, PolicyName="least-privilege", PolicyDocument=json.dumps(earlier)
    )
    iam.attach_role_policy(RoleName=role, PolicyArn=vpc_access_policy)

    plan = order.plan(vpc_path)
    assert [(c.action, c.resource) for c in plan] == [
        ("update", f"iam role {role} policy least-privilege"),
        ("detach", f"iam role {role}"),
    ]
    assert plan[0].detail == "; ".join(
        f"+ Allow {action} on *" for action in sorted(VPC_STATEMENT["Action"])
    )
    assert plan[1].detail == (
        f"{vpc_access_policy} (its logs statement is on *; the inline policy least-privilege "
        "holds what the function needs)"
    )
    apply_changes(plan)

    assert attached(role) == []
    assert role_policy(prefix, "drain")["Statement"][-1] == VPC_STATEMENT
    assert order.plan(vpc_path) == []


def test_the_managed_vpc_policy_is_detached_from_a_drain_outside_a_vpc_too(
    deployed_to_change, vpc_access_policy
):
    path = deployed_to_change
    role = f"{path.deployment.prefix}-drain"
    boto3.client("iam").attach_role_policy(RoleName=role, PolicyArn=vpc_access_policy)
    assert [(c.action, c.resource) for c in order.plan(path)] == [("detach", f"iam role {role}")]
    apply_changes(order.plan(path))
    assert attached(role) == []


def role_state(role_name: str) -> dict:
    iam = boto3.client("iam")
    return {
        "trust": iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"],
        "tags": iam.list_role_tags(RoleName=role_name)["Tags"],
        "inline": {
            name: iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        },
        "attached": attached(role_name),
    }


@pytest.fixture
def foreign_drain_role(path):
    """Someone else's role named like the deployment's drain role: no project tags."""
    name = f"{path.deployment.prefix}-drain"
    iam = boto3.client("iam")
    iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": "000000000000"}},
                    }
                ],
            }
        ),
        Tags=[{"Key": "owner", "Value": "another-team"}],
    )
    iam.put_role_policy(
        RoleName=name,
        PolicyName="least-privilege",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    yield name
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):  # unless adopted
        iam.delete_role_policy(RoleName=name, PolicyName="least-privilege")
        iam.delete_role(RoleName=name)


def test_an_untagged_role_with_an_execution_roles_name_is_refused_and_left_alone(
    path, foreign_drain_role
):
    before = role_state(foreign_drain_role)
    with pytest.raises(ForeignResourceError) as refused:
        order.plan(path)
    assert str(refused.value) == (
        f"iam role {foreign_drain_role} exists but does not carry this deployment's tags "
        f"(project=aurora-events, aurora-events:prefix={path.deployment.prefix}); it may "
        "belong to something else. Re-run with --adopt-existing-roles to take it over, or "
        "choose another prefix"
    )
    assert role_state(foreign_drain_role) == before


def test_adopt_existing_roles_tags_the_untagged_role_and_converges_it(path, foreign_drain_role):
    prefix = path.deployment.prefix
    adopting = Context(
        path.deployment, path.target, adopt_existing_roles=True, options=path.options
    )
    plan = order.plan(adopting)
    role_changes = [
        (c.action, c.detail) for c in plan if c.resource.startswith(f"iam role {prefix}-drain")
    ]
    assert role_changes[:2] == [
        ("adopt", f"tag it project=aurora-events, aurora-events:prefix={prefix}"),
        ("update", "trust policy: only lambda.amazonaws.com may assume it"),
    ]
    apply_changes(plan)

    state = role_state(foreign_drain_role)
    assert {t["Key"]: t["Value"] for t in state["tags"]} == {
        "owner": "another-team",
        "project": "aurora-events",
        "aurora-events:prefix": prefix,
    }
    assert state["trust"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert set(statements_by_sid(state["inline"]["least-privilege"])) == {
        "OwnLogs",
        "Declared1",
        "Declared2",
    }
    assert order.plan(path) == []  # ours now: the plain path plans nothing, refuses nothing


def test_only_plans_and_applies_the_named_resources_of_the_declared_order(path):
    """``--only queues``: the queues' changes alone; applied, the queues exist and nothing
    else of the deployment does; the whole plan still lists the rest."""
    planned = order.plan(path, only=("queues",))
    assert planned and {change.resource.split()[1] for change in planned} == {"queue"}
    apply_changes(planned)
    assert order.plan(path, only=("queues",)) == []
    sqs = boto3.client("sqs")
    prefix = path.deployment.prefix
    assert [url for url in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])]
    rest = order.plan(path)
    assert rest and not [change for change in rest if change.resource.startswith("sqs queue")]
    with pytest.raises(Exception, match="no resource nothing"):
        order.plan(path, only=("nothing",))
