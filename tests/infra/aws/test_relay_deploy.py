"""The relay on AWS (moto): its schedule (an EventBridge rule, its target, the function's
permission scoped to the rule), its execution role, exactly, and its reserved concurrency."""

import json

import boto3
import pytest

from infra.aws.changes import apply_changes
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.resources import order
from tests.infra.aws.test_event_path import role_policy, statements_by_sid
from tests.infra.aws.test_http_api import with_settings


def test_apply_schedules_the_relay_every_minute_invokable_only_from_its_rule(deployed, account_id):
    path = deployed.path
    prefix, region = path.deployment.prefix, path.target.region
    rule_name = f"{prefix}-relay-schedule"
    rule_arn = f"arn:aws:events:{region}:{account_id}:rule/{rule_name}"
    # The rule invokes the relay's alias live, and only the alias's policy lets it.
    relay_arn = f"arn:aws:lambda:{region}:{account_id}:function:{prefix}-relay:live"

    planned = [(c.action, c.resource) for c in deployed.first_plan]
    assert planned[-3:] == [
        ("create", f"eventbridge rule {rule_name}"),
        ("set", f"eventbridge rule {rule_name} target"),
        ("set", f"lambda function {prefix}-relay:live permission {rule_name}"),
    ]

    events = boto3.client("events")
    rule = events.describe_rule(Name=rule_name)
    assert (rule["Arn"], rule["ScheduleExpression"], rule["State"]) == (
        rule_arn,
        "rate(1 minute)",
        "ENABLED",
    )
    tags = {
        t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"]
    }
    assert tags == {"project": "aurora-events", "aurora-events:prefix": prefix}
    targets = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    assert [(t["Id"], t["Arn"]) for t in targets] == [("relay", relay_arn)]

    policy = json.loads(
        boto3.client("lambda").get_policy(FunctionName=f"{prefix}-relay", Qualifier="live")[
            "Policy"
        ]
    )
    assert policy["Statement"] == [
        {
            "Sid": rule_name,
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": relay_arn,
            "Condition": {"ArnLike": {"AWS:SourceArn": rule_arn}},
        }
    ]
    assert order.plan(path) == []  # a second apply changes nothing


def test_a_schedule_changed_by_hand_is_put_back_and_a_stray_target_removed(deployed_to_change):
    path = deployed_to_change
    prefix = path.deployment.prefix
    rule_name = f"{prefix}-relay-schedule"
    events = boto3.client("events")
    events.put_rule(Name=rule_name, ScheduleExpression="rate(1 hour)", State="DISABLED")
    events.put_targets(Rule=rule_name, Targets=[{"Id": "other", "Arn": "arn:aws:sns:x:1:t"}])

    drift = order.plan(path)
    assert [(c.action, c.resource) for c in drift] == [
        ("update", f"eventbridge rule {rule_name}"),
        ("set", f"eventbridge rule {rule_name} target"),
    ]
    assert drift[0].detail == "rate(1 hour) DISABLED -> rate(1 minute) ENABLED"
    apply_changes(drift)
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=rule_name)["Targets"]] == ["relay"]
    assert order.plan(path) == []


def test_destroy_removes_the_rule_but_not_an_untagged_one_of_the_same_name(path, stack):
    prefix = path.deployment.prefix
    apply_changes(order.plan(path))
    events = boto3.client("events")
    assert f"eventbridge rule {prefix}-relay-schedule" in [
        c.resource for c in order.plan_destroy(path)
    ]
    apply_changes(order.plan_destroy(path))
    assert events.list_rules(NamePrefix=prefix)["Rules"] == []

    # Someone else's rule with our name: plan refuses to rewrite it, destroy leaves it.
    events.put_rule(Name=f"{prefix}-relay-schedule", ScheduleExpression="rate(5 minutes)")
    with pytest.raises(ForeignResourceError, match="does not carry this deployment's tags"):
        order.plan(path)
    assert order.plan_destroy(path) == []
    assert [r["Name"] for r in events.list_rules(NamePrefix=prefix)["Rules"]] == [
        f"{prefix}-relay-schedule"
    ]
    events.delete_rule(Name=f"{prefix}-relay-schedule")


def relay_statements(path, account_id) -> tuple[dict, str, str]:
    prefix, region = path.deployment.prefix, path.target.region
    arn = f"{region}:{account_id}"
    secret = boto3.client("secretsmanager").describe_secret(SecretId=f"{prefix}-relay-db")["ARN"]
    return statements_by_sid(role_policy(prefix, "relay")), arn, secret


def test_the_relays_role_is_its_logs_its_targets_and_its_secret_nothing_else(deployed, account_id):
    path = deployed.path
    prefix = path.deployment.prefix
    statements, arn, secret = relay_statements(path, account_id)
    logs = f"arn:aws:logs:{arn}:log-group:/aws/lambda/{prefix}-relay"
    notify = f"arn:aws:lambda:{arn}:function:{prefix}-notify"
    email = f"arn:aws:lambda:{arn}:function:{prefix}-email"
    assert statements == {
        "OwnLogs": (
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [logs, f"{logs}:*"],
        ),
        "Declared1": (["lambda:InvokeFunction"], [notify, f"{notify}:*"]),
        "Declared2": (["lambda:InvokeFunction"], [email, f"{email}:*"]),
        "Declared3": (["secretsmanager:GetSecretValue"], secret),
    }
    # The drain's secret is not the relay's.
    assert path.secret not in json.dumps(role_policy(prefix, "relay"))


def test_the_relay_in_a_vpc_gets_the_network_interface_actions_too(deployed_in_vpc, account_id):
    vpc_path = deployed_in_vpc.path
    statements, _, _ = relay_statements(vpc_path, account_id)
    assert sorted(statements) == [
        "Declared1",
        "Declared2",
        "Declared3",
        "OwnLogs",
        "VpcNetworkInterfaces",
    ]
    assert statements["VpcNetworkInterfaces"] == (
        sorted(
            [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ]
        ),
        "*",
    )
    relay = boto3.client("lambda").get_function(FunctionName=f"{vpc_path.deployment.prefix}-relay")
    assert relay["Configuration"]["VpcConfig"]["SubnetIds"] == ["subnet-0aa", "subnet-0bb"]


def test_the_relays_reserved_concurrency_is_its_setting_applied_once(path):
    """plan shows it, apply sets it (on the function: Lambda keeps it per function), a
    second apply changes nothing; a changed setting is one update, 0 removes it."""
    relay = f"{path.deployment.prefix}-relay"
    lambda_client = boto3.client("lambda")
    planned = [
        (c.action, c.resource, c.detail) for c in order.plan(path) if "concurrency" in c.resource
    ]
    assert planned == [("set", f"lambda function {relay} reserved concurrency", "none -> 2")]
    apply_changes(order.plan(path))
    concurrency = lambda_client.get_function_concurrency(FunctionName=relay)
    assert concurrency["ReservedConcurrentExecutions"] == 2
    assert order.plan(path) == []  # a second apply changes nothing
    # Only the relay is bounded: the others are left as they are.
    notify = lambda_client.get_function_concurrency(FunctionName=f"{path.deployment.prefix}-notify")
    assert notify.get("ReservedConcurrentExecutions") is None

    three = with_settings(path, relay_reserved_concurrency=3)
    assert [(c.action, c.resource, c.detail) for c in order.plan(three)] == [
        ("set", f"lambda function {relay} reserved concurrency", "2 -> 3")
    ]
    apply_changes(order.plan(three))
    assert (
        lambda_client.get_function_concurrency(FunctionName=relay)["ReservedConcurrentExecutions"]
        == 3
    )

    unbounded = with_settings(path, relay_reserved_concurrency=0)
    assert [(c.action, c.detail) for c in order.plan(unbounded)] == [
        ("delete", "3 -> none (relay_reserved_concurrency = 0)")
    ]
    apply_changes(order.plan(unbounded))
    concurrency = lambda_client.get_function_concurrency(FunctionName=relay)
    assert concurrency.get("ReservedConcurrentExecutions") is None
    assert order.plan(unbounded) == []

    # destroy deletes the function, and its reservation with it
    assert f"lambda function {relay}" in [c.resource for c in order.plan_destroy(path)]


def test_a_doorbell_lambda_cannot_run_soon_is_dropped_after_a_minute(deployed):
    """Doorbells beyond the reserved concurrency wait in Lambda's queue: the relay keeps
    them a minute (the schedule's period), not Lambda's six hours, and retries none."""
    prefix = deployed.path.deployment.prefix
    invoke = boto3.client("lambda").get_function_event_invoke_config(FunctionName=f"{prefix}-relay")
    assert (invoke["MaximumRetryAttempts"], invoke["MaximumEventAgeInSeconds"]) == (0, 60)
