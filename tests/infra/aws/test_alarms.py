"""The alarms on moto: what apply creates (metric, deployed dimensions, threshold, actions,
tags, the email subscription), that a second apply changes nothing and a changed
declaration is one update, that destroy leaves nothing tagged, and that each alarm watches
what the system really produces: a message the drain gave up on (moved to the DLQ by the
queue's own redrive), the relay's EMF document.

moto stores alarms but never evaluates them (no SQS or Lambda metrics are published, and
an alarm stays in its initial state), so "would fire" is checked by reading the metric's
source the alarm names: the queue's attribute behind the SQS metric, or the datapoints of
the relay's metric once its EMF document is put as CloudWatch Logs would extract it.
"""

from __future__ import annotations

import dataclasses
import json
import operator
from pathlib import Path

import boto3
import pytest

from functions.common.metric_names import OLDEST_PENDING_AGE
from infra.aws.changes import apply_changes
from infra.aws.resources import alarms as alarms_module
from infra.aws.resources import order
from infra.aws.resources.alarms import Alarms, AlarmSettingError, ForeignAlarmError
from infra.aws.resources.context import EventPathOptions
from infra.catalog import ALARMS, QUEUES, QueueName, alarms_markdown, queue_spec
from tests.functions.test_relay_metrics import emf_documents, fill, run_handler
from tests.infra.aws.conftest import deployment, lend
from tests.infra.aws.test_event_path import new_path

COMPARISONS = {"GreaterThanThreshold": operator.gt, "GreaterThanOrEqualToThreshold": operator.ge}
# The SQS metric and the queue attribute it is the approximation of.
QUEUE_ATTRIBUTES = {"ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages"}


@pytest.fixture
def alarm_path(stack):
    """An event path with an alarm email; destroyed after."""
    path = new_path(alarm_email="ops@example.com")
    yield path
    apply_changes(order.plan_destroy(path))


@pytest.fixture(scope="module")
def alarm_deployed(stack):
    """This module's deployment with an alarm email, for tests that only read it."""
    with deployment(alarm_email="ops@example.com") as shared:
        yield shared


@pytest.fixture
def alarm_deployed_to_change(alarm_deployed):
    """``alarm_deployed`` for a test that changes it; put back as declared after."""
    yield from lend(alarm_deployed)


def alarms_of(prefix: str) -> dict[str, dict]:
    pages = boto3.client("cloudwatch").get_paginator("describe_alarms")
    return {
        alarm["AlarmName"]: alarm
        for page in pages.paginate(AlarmNamePrefix=f"{prefix}-")
        for alarm in page["MetricAlarms"]
    }


def email_subscriptions(topic_arn: str) -> list[tuple[str, str]]:
    subscriptions = boto3.client("sns").list_subscriptions()["Subscriptions"]
    return sorted(
        (s["Protocol"], s["Endpoint"]) for s in subscriptions if s["TopicArn"] == topic_arn
    )


def watched(alarm: dict) -> tuple[str, str, dict[str, str], str, int]:
    return (
        alarm["Namespace"],
        alarm["MetricName"],
        {d["Name"]: d["Value"] for d in alarm["Dimensions"]},
        alarm["Statistic"],
        alarm["Period"],
    )


def test_apply_creates_each_alarm_on_the_operators_topic_and_subscribes_the_email(
    alarm_deployed, account_id
):
    alarm_path = alarm_deployed.path
    prefix, region = alarm_path.deployment.prefix, alarm_path.target.region

    operators = f"arn:aws:sns:{region}:{account_id}:{prefix}-operators"
    found = alarms_of(prefix)
    assert {name: watched(alarm) for name, alarm in found.items()} == {
        f"{prefix}-ingest-dlq-messages": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": f"{prefix}-ingest-dlq.fifo"},
            "Maximum",
            300,
        ),
        f"{prefix}-lambda-failures-messages": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": f"{prefix}-lambda-failures"},
            "Maximum",
            300,
        ),
        f"{prefix}-drain-errors": (
            "AWS/Lambda",
            "Errors",
            {"FunctionName": f"{prefix}-drain"},
            "Sum",
            300,
        ),
        f"{prefix}-relay-errors": (
            "AWS/Lambda",
            "Errors",
            {"FunctionName": f"{prefix}-relay"},
            "Sum",
            300,
        ),
        f"{prefix}-ingest-oldest-message": (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": f"{prefix}-ingest.fifo"},
            "Maximum",
            300,
        ),
        f"{prefix}-outbox-parked": (
            "AuroraEvents",
            "ParkedEvents",
            {"service": prefix},
            "Maximum",
            300,
        ),
        f"{prefix}-relay-stopped": (
            "AuroraEvents",
            "OldestPendingAgeSeconds",
            {"service": prefix},
            "Maximum",
            300,
        ),
        f"{prefix}-idempotency-conflicts": (
            "AuroraEvents",
            "IdempotencyConflicts",
            {"service": prefix},
            "Sum",
            300,
        ),
    }
    thresholds = {name[len(prefix) + 1 :]: alarm["Threshold"] for name, alarm in found.items()}
    assert thresholds == {
        "ingest-dlq-messages": 0.0,
        "lambda-failures-messages": 0.0,
        "drain-errors": 0.0,
        "ingest-oldest-message": 900.0,  # 180 s visibility x 10 receives / 2
        "relay-errors": 0.0,
        "outbox-parked": 0.0,
        # A working relay parks a failing event within 8 x (60 s schedule + 50 s call) +
        # 635 s of backoffs = 1515 s: rounded up to whole periods.
        "relay-stopped": 1800.0,
        "idempotency-conflicts": 0.0,
    }
    cloudwatch = boto3.client("cloudwatch")
    for alarm in found.values():
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["EvaluationPeriods"] == 1
        assert alarm["AlarmActions"] == alarm["OKActions"] == [operators]
        assert alarm["ActionsEnabled"] is True
        assert alarm["AlarmDescription"].startswith("Fires on ")
        tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
        assert {t["Key"]: t["Value"] for t in tags} == {
            "project": "aurora-events",
            "aurora-events:prefix": prefix,
        }
    assert found[f"{prefix}-outbox-parked"]["TreatMissingData"] == "missing"
    # A relay that reports nothing (never runs, or fails before it reports) alarms.
    assert found[f"{prefix}-relay-stopped"]["TreatMissingData"] == "breaching"
    assert found[f"{prefix}-drain-errors"]["TreatMissingData"] == "notBreaching"
    assert found[f"{prefix}-idempotency-conflicts"]["TreatMissingData"] == "notBreaching"
    # The dimensions name what the deployment really has.
    sqs = boto3.client("sqs")
    for alarm in found.values():
        dimensions = watched(alarm)[2]
        if "QueueName" in dimensions:
            sqs.get_queue_url(QueueName=dimensions["QueueName"])
        if "FunctionName" in dimensions:
            boto3.client("lambda").get_function(FunctionName=dimensions["FunctionName"])
    assert email_subscriptions(operators) == [("email", "ops@example.com")]

    assert (
        order.plan(alarm_path) == []
    )  # a second apply: no alarm rewritten, no second subscription


def test_a_changed_threshold_is_one_update_and_a_manual_edit_is_undone(
    alarm_deployed_to_change, monkeypatch
):
    # monkeypatch after the deployment: its undo comes first, so what the deployment is put
    # back to afterwards is the catalog's alarms even if this test fails halfway.
    alarm_path = alarm_deployed_to_change
    prefix = alarm_path.deployment.prefix
    name = f"{prefix}-ingest-oldest-message"

    changed = tuple(
        dataclasses.replace(spec, threshold=600) if spec.name == "ingest-oldest-message" else spec
        for spec in ALARMS
    )
    monkeypatch.setattr(alarms_module, "ALARMS", changed)
    plan = order.plan(alarm_path)
    assert [(c.action, c.resource, c.detail) for c in plan] == [
        ("update", f"cloudwatch alarm {name}", "Threshold: 900.0 -> 600.0")
    ]
    apply_changes(plan)
    assert alarms_of(prefix)[name]["Threshold"] == 600.0
    assert order.plan(alarm_path) == []
    monkeypatch.undo()

    # Someone points an alarm's actions elsewhere and edits its dimensions: apply puts it back.
    alarm = alarms_of(prefix)[f"{prefix}-drain-errors"]
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=alarm["AlarmName"],
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": "someone-else"}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmDescription=alarm["AlarmDescription"],
        AlarmActions=[],
        OKActions=alarm["OKActions"],
    )
    drift = [c for c in order.plan(alarm_path) if c.resource.endswith("-drain-errors")]
    assert [(c.action, c.detail) for c in drift] == [
        (
            "update",
            f"AlarmActions: [] -> {alarm['AlarmActions']}; Dimensions: "
            "[{'Name': 'FunctionName', 'Value': 'someone-else'}] -> "
            f"[{{'Name': 'FunctionName', 'Value': '{prefix}-drain'}}]",
        )
    ]
    apply_changes(order.plan(alarm_path))
    assert alarms_of(prefix)[f"{prefix}-drain-errors"]["AlarmActions"] == alarm["AlarmActions"]
    assert order.plan(alarm_path) == []


def test_another_alarm_email_is_subscribed_too_and_the_first_is_left(alarm_path):
    apply_changes(order.plan(alarm_path))
    moved = new_path_with(alarm_path, alarm_email="pager@example.com")
    plan = order.plan(moved)
    assert [(c.action, c.resource) for c in plan] == [
        ("create", f"sns subscription {moved.resource(Alarms).topic_arn} email")
    ]
    assert plan[0].detail.startswith("pager@example.com (SNS emails a confirmation link")
    apply_changes(plan)
    assert email_subscriptions(moved.resource(Alarms).topic_arn) == [
        ("email", "ops@example.com"),
        ("email", "pager@example.com"),
    ]
    assert order.plan(moved) == []


def new_path_with(path, **settings):
    """The same deployment (prefix, account) with other settings."""
    from infra.aws.resources.context import Context

    return Context(
        dataclasses.replace(path.deployment, **settings),
        target=path.target,
        options=path.options,
    )


def test_without_alarm_email_no_subscription(deployed):
    path = deployed.path
    assert email_subscriptions(path.resource(Alarms).topic_arn) == []
    assert len(alarms_of(path.deployment.prefix)) == len(ALARMS)


@pytest.mark.parametrize("address", ["ops@example.com, pager@example.com", "ops", "a b@c.d"])
def test_an_alarm_email_that_is_not_one_address_is_refused_before_any_change(stack, address):
    path = new_path(alarm_email=address)
    with pytest.raises(AlarmSettingError) as refused:
        order.plan(path)
    assert str(refused.value) == f"setting alarm_email must be one email address, not {address!r}"
    assert alarms_of(path.deployment.prefix) == {}


def test_destroy_leaves_no_alarm_and_no_subscription_and_spares_a_foreign_alarm(alarm_path):
    prefix = alarm_path.deployment.prefix
    apply_changes(order.plan(alarm_path))
    cloudwatch = boto3.client("cloudwatch")
    foreign = f"{prefix}-someone-elses"  # our prefix, no tags: not ours
    cloudwatch.put_metric_alarm(
        AlarmName=foreign,
        Namespace="AWS/SQS",
        MetricName="NumberOfMessagesSent",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    operators = alarm_path.resource(Alarms).topic_arn

    done = apply_changes(order.plan_destroy(alarm_path)).done
    assert {c.resource for c in done if c.resource.startswith("cloudwatch alarm")} == {
        f"cloudwatch alarm {prefix}-{spec.name}" for spec in ALARMS
    }
    assert list(alarms_of(prefix)) == [foreign]
    assert email_subscriptions(operators) == []
    topics = [t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]]
    assert operators not in topics
    assert order.plan_destroy(alarm_path) == []
    cloudwatch.delete_alarms(AlarmNames=[foreign])


def test_an_untagged_alarm_with_a_deployment_name_is_refused_not_rewritten(path):
    name = f"{path.deployment.prefix}-drain-errors"
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="Other",
        MetricName="Other",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    with pytest.raises(ForeignAlarmError, match=f"cloudwatch alarm {name} exists but does not"):
        order.plan(path)
    assert path.resource(Alarms).plan_destroy() == []  # destroy leaves it too
    assert alarms_of(path.deployment.prefix)[name]["Namespace"] == "Other"
    cloudwatch.delete_alarms(AlarmNames=[name])


# -- the alarms watch what the system produces ------------------------------------------


def breaches(alarm: dict, value: float) -> bool:
    return COMPARISONS[alarm["ComparisonOperator"]](value, alarm["Threshold"])


def queue_metric_now(alarm: dict) -> float:
    """What the alarm's SQS metric reads now: the attribute of the queue it names."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=watched(alarm)[2]["QueueName"])["QueueUrl"]
    attribute = QUEUE_ATTRIBUTES[alarm["MetricName"]]
    return float(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[attribute])["Attributes"][attribute]
    )


def test_a_message_the_drain_gives_up_on_is_what_the_dlq_alarm_counts(path):
    """The queue's own redrive policy moves a message received maxReceiveCount times
    without being deleted (what a drain that keeps failing does) into the queue the alarm
    names."""
    prefix = path.deployment.prefix
    # Without the event source mapping: moto's would take the message (and run nothing);
    # here the test is the drain that keeps failing.
    path.options = EventPathOptions(vendor_dependencies=False, event_sources_enabled=False)
    apply_changes(order.plan(path))
    alarm = alarms_of(prefix)[f"{prefix}-ingest-dlq-messages"]
    assert not breaches(alarm, queue_metric_now(alarm))

    sqs = boto3.client("sqs")
    ingest = sqs.get_queue_url(QueueName=f"{prefix}-ingest.fifo")["QueueUrl"]
    sqs.send_message(
        QueueUrl=ingest,
        MessageBody=json.dumps({"version": 1, "resource": "orders"}),
        MessageGroupId="customer-7",
        MessageDeduplicationId="order-42",
    )
    for _ in range(queue_spec("ingest").max_receive_count):
        (message,) = sqs.receive_message(QueueUrl=ingest)["Messages"]
        # The drain failed: the message becomes visible again (released at once here).
        sqs.change_message_visibility(
            QueueUrl=ingest, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    assert sqs.receive_message(QueueUrl=ingest).get("Messages", []) == []  # moved on

    assert queue_metric_now(alarm) == 1
    assert breaches(alarm, queue_metric_now(alarm))
    # The other queue alarm watches another queue, still empty.
    failures = alarms_of(prefix)[f"{prefix}-lambda-failures-messages"]
    assert not breaches(failures, queue_metric_now(failures))


def test_the_relays_emf_document_is_the_metric_the_parked_alarm_watches(
    deployed, outbox, monkeypatch, capsys
):
    """CloudWatch Logs turns an EMF document into datapoints (moto does not): put them as
    it would, then read them back the way the alarm does (its namespace, metric,
    dimensions, statistic and period). The datapoints are this test's: the deployment is
    only read."""
    prefix = deployed.path.deployment.prefix
    alarm = alarms_of(prefix)[f"{prefix}-outbox-parked"]
    fill(outbox)  # two parked events
    document = run_handler(outbox, monkeypatch, capsys, prefix=prefix)
    assert_alarm_sees(alarm, document, 2.0)


def test_the_relays_oldest_pending_age_is_the_metric_the_relay_stopped_alarm_watches(
    alarm_path, outbox, monkeypatch, capsys
):
    """The age the relay reports for an event waiting since ``OLD`` (months) is what the
    alarm reads, and it breaches; an empty outbox reports 0, which does not. A deployment
    of its own: its datapoints are this test's alone."""
    apply_changes(order.plan(alarm_path))
    prefix = alarm_path.deployment.prefix
    alarm = alarms_of(prefix)[f"{prefix}-relay-stopped"]
    fill(outbox)
    document = run_handler(outbox, monkeypatch, capsys, prefix=prefix)
    (age,) = document[OLDEST_PENDING_AGE]
    assert age > alarm["Threshold"]
    assert_alarm_sees(alarm, document, age)

    with outbox.connect().cursor() as cursor:
        cursor.execute("UPDATE aurora_events_outbox SET delivered_at = UTC_TIMESTAMP(6)")
    document = run_handler(outbox, monkeypatch, capsys, prefix=prefix)
    assert document[OLDEST_PENDING_AGE] == [0.0]
    assert not breaches(alarm, 0.0)


def test_the_drains_conflicts_emf_document_is_the_metric_the_conflicts_alarm_watches(
    deployed, monkeypatch, capsys
):
    """As for the relay: the document the drain prints for two conflicts in a batch."""
    from functions.drain import handler as drain_handler

    prefix = deployed.path.deployment.prefix
    alarm = alarms_of(prefix)[f"{prefix}-idempotency-conflicts"]
    monkeypatch.setenv("AURORA_EVENTS_PREFIX", prefix)
    capsys.readouterr()
    drain_handler.count_conflicts(2)
    (document,) = emf_documents(capsys.readouterr().out)
    assert_alarm_sees(alarm, document, 2.0)


def assert_alarm_sees(alarm: dict, document: dict, value: float) -> None:
    """Put ``document``'s datapoints as CloudWatch Logs would, read them back the way
    ``alarm`` does, and check that it would fire."""
    cloudwatch = boto3.client("cloudwatch")
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_names in directive["Dimensions"]:
            dimensions = [{"Name": n, "Value": document[n]} for n in dimension_names]
            cloudwatch.put_metric_data(
                Namespace=directive["Namespace"],
                MetricData=[
                    {
                        "MetricName": metric["Name"],
                        "Unit": metric["Unit"],
                        "Dimensions": dimensions,
                        "Values": document[metric["Name"]],
                    }
                    for metric in directive["Metrics"]
                ],
            )
    namespace, metric, dimensions, statistic, period = watched(alarm)
    datapoints = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": n, "Value": v} for n, v in dimensions.items()],
        StartTime=document["_aws"]["Timestamp"] / 1000 - period,
        EndTime=document["_aws"]["Timestamp"] / 1000 + period,
        Period=period,
        Statistics=[statistic],
    )["Datapoints"]
    assert [point[statistic] for point in datapoints] == [value]
    assert breaches(alarm, datapoints[0][statistic])


def test_every_queue_an_alarm_names_is_declared():
    declared = {q.name for q in QUEUES}
    for spec in ALARMS:
        for _, value in spec.metric.dimensions:
            if isinstance(value, QueueName):
                assert value.queue in declared


@pytest.mark.parametrize("page", ["docs/operations.md"])
def test_the_docs_list_the_alarms_as_declared(page):
    text = (Path(__file__).resolve().parents[3] / page).read_text(encoding="utf-8")
    assert alarms_markdown() in text, (
        f"{page}'s alarm table is out of date: paste the output of "
        "`.venv/bin/python -c 'from infra.catalog import alarms_markdown as m; print(m())'`"
    )


def test_each_alarm_links_to_its_runbook_and_a_new_runbook_url_is_one_update_each(
    alarm_deployed_to_change,
):
    """The descriptions name each alarm's runbook section (the source's page by default);
    publishing the docs elsewhere (runbook_url) rewrites each description once."""
    alarm_path = alarm_deployed_to_change
    prefix = alarm_path.deployment.prefix
    found = alarms_of(prefix)
    for spec in ALARMS:
        description = found[f"{prefix}-{spec.name}"]["AlarmDescription"]
        assert f"\nRunbook: docs/runbooks.md#{spec.name}\n" in description
        assert len(description) <= 1024

    url = "https://docs.shop.example/runbooks/"
    published = new_path_with(alarm_path, runbook_url=url)
    plan = order.plan(published)
    assert sorted((c.action, c.resource) for c in plan) == sorted(
        ("update", f"cloudwatch alarm {prefix}-{spec.name}") for spec in ALARMS
    )
    assert all(c.detail.startswith("AlarmDescription: Fires on ") for c in plan)
    apply_changes(plan)
    found = alarms_of(prefix)
    for spec in ALARMS:
        assert (
            f"\nRunbook: {url}#{spec.name}\n" in found[f"{prefix}-{spec.name}"]["AlarmDescription"]
        )
    assert order.plan(published) == []


def test_deploy_plan_names_a_bad_alarm_email_on_one_line(stack, capsys, monkeypatch):
    from tests.infra.aws.conftest import run_aurora_events

    prefix = new_path().deployment.prefix  # its database secrets
    monkeypatch.setenv("AURORA_EVENTS_DATABASE_SECRET_ID", f"{prefix}-db")
    monkeypatch.setenv("AURORA_EVENTS_RELAY_DATABASE_SECRET_ID", f"{prefix}-relay-db")
    monkeypatch.setenv("AURORA_EVENTS_ALARM_EMAIL", "ops@example.com;pager@example.com")
    capsys.readouterr()
    assert run_aurora_events(f"aurora-events deploy plan --prefix {prefix}") == 2
    assert capsys.readouterr().err == (
        "aurora-events: setting alarm_email must be one email address, "
        "not 'ops@example.com;pager@example.com'\n"
    )


def test_the_relay_falls_back_to_the_catalogs_default_prefix():
    from functions.relay import metrics
    from infra import catalog

    assert metrics.DEFAULT_PREFIX == catalog.DEFAULT_PREFIX
    assert metrics.service_name({}) == catalog.Deployment().prefix
    assert metrics.service_name({"AURORA_EVENTS_PREFIX": "shop"}) == "shop"
