"""The catalog's alarms on AWS: one CloudWatch metric alarm per
:class:`~infra.catalog.AlarmSpec` (``<prefix>-<name>``, tagged), whose alarm and OK
actions notify the ``operators`` topic, and the topic's email subscription to
``Deployment.alarm_email`` when it is set.

The topic itself is the event path's (a catalog topic). SNS sends the address a
confirmation link; until it is clicked the subscription is listed as
``PendingConfirmation``, and a second apply finds it by protocol and address and does not
subscribe again. Subscriptions are only added: one someone added by hand, or the address
of an earlier ``alarm_email``, is left alone (unsubscribe it in the console). Destroy
deletes the alarms that carry the deployment's tags; the subscriptions go with the topic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from functions.common.config import ConfigurationError
from infra.aws.changes import Change
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.resources.base import AwsResource, converge
from infra.aws.tags import is_project_resource, tag_list
from infra.catalog import (
    ALARM_TOPIC,
    ALARMS,
    AlarmSpec,
    Deployment,
    alarm_description,
    alarm_dimensions,
)

EMAIL_PROTOCOL = "email"
# One address: something@somewhere, without spaces or a second @.
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")


class ForeignAlarmError(ForeignResourceError):
    """An alarm with this deployment's name exists without its tags: not ours to rewrite."""


class AlarmSettingError(ConfigurationError):
    """A deployment setting the alarms need cannot be used; the message names it (the CLI
    prints it on one line and exits 2)."""


def alarm_settings(spec: AlarmSpec, deployment: Deployment, topic_arn: str) -> dict:
    """The ``put_metric_alarm`` arguments (without tags) that declare ``spec``."""
    dimensions = alarm_dimensions(spec, deployment)
    return {
        "AlarmName": deployment.resource_name(spec.name),
        "AlarmDescription": alarm_description(spec, deployment),
        "ActionsEnabled": True,
        "AlarmActions": [topic_arn],
        "OKActions": [topic_arn],
        "Namespace": spec.metric.namespace,
        "MetricName": spec.metric.name,
        "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
        "Statistic": spec.metric.statistic,
        "Period": spec.metric.period_seconds,
        "EvaluationPeriods": spec.evaluation_periods,
        "Threshold": float(spec.threshold),
        "ComparisonOperator": spec.comparison,
        "TreatMissingData": spec.treat_missing_data,
    }


def _comparable(key: str, value):
    if key == "Dimensions":
        return sorted((d["Name"], d["Value"]) for d in value or [])
    if key in ("AlarmActions", "OKActions"):
        return sorted(value or [])
    if key == "Threshold" and value is not None:
        return float(value)
    return value


def alarm_drift(current: dict, wanted: dict) -> list[str]:
    """``"<field>: <current> -> <wanted>"`` for each declared field that differs (as
    ``describe_alarms`` returns it); empty when the alarm is as declared."""
    return [
        f"{key}: {current.get(key)} -> {value}"
        for key, value in wanted.items()
        if _comparable(key, current.get(key)) != _comparable(key, value)
    ]


def check_alarm_email(address: str) -> None:
    """Refuse an ``alarm_email`` that is not one address (SNS would refuse it mid-apply)."""
    if address and not _EMAIL.fullmatch(address):
        raise AlarmSettingError(f"setting alarm_email must be one email address, not {address!r}")


class Alarms(AwsResource):
    """Plans the alarms and the alarm email of one deployment."""

    key = "alarms"

    def __init__(self, context) -> None:
        super().__init__(context)
        self.topic_arn = context.topic_arn(ALARM_TOPIC)
        self.cloudwatch = context.client("cloudwatch")
        self.sns = context.client("sns")

    def names(self) -> list[str]:
        return [self.deployment.resource_name(spec.name) for spec in ALARMS]

    def existing(self) -> dict[str, dict]:
        """The deployment's alarms that exist, by name (one call for all)."""
        found = {}
        paginator = self.cloudwatch.get_paginator("describe_alarms")
        for page in paginator.paginate(AlarmNames=self.names(), AlarmTypes=["MetricAlarm"]):
            for alarm in page["MetricAlarms"]:
                found[alarm["AlarmName"]] = alarm
        return found

    def desired(self) -> dict[str, dict]:
        """The ``put_metric_alarm`` arguments of each declared alarm, by name."""
        return {
            self.deployment.resource_name(spec.name): alarm_settings(
                spec, self.deployment, self.topic_arn
            )
            for spec in ALARMS
        }

    def plan(self) -> Iterator[Change]:
        """Each alarm created or brought back to its declaration; the email subscribed."""
        check_alarm_email(self.deployment.alarm_email)
        existing = self.existing()
        for spec, (name, wanted) in zip(ALARMS, self.desired().items(), strict=True):
            yield from converge(
                f"cloudwatch alarm {name}",
                existing.get(name),
                create=lambda spec=spec, wanted=wanted: [self._create(spec, wanted)],
                ours=lambda current: self._ours(current["AlarmArn"]),
                foreign=ForeignAlarmError,
                drift=lambda current, wanted=wanted: alarm_drift(current, wanted),
                # put_metric_alarm replaces the whole alarm (its tags stay).
                update=lambda _, wanted=wanted: lambda: self.cloudwatch.put_metric_alarm(**wanted),
            )
        yield from self._plan_subscription()

    def _create(self, spec: AlarmSpec, wanted: dict) -> Change:
        return Change(
            f"cloudwatch alarm {wanted['AlarmName']}",
            "create",
            f"{spec.metric.namespace} {spec.metric.name} {spec.metric.statistic} "
            f"{spec.comparison} {spec.threshold:g} -> topic {self.topic_arn}",
            run=lambda: self.cloudwatch.put_metric_alarm(**wanted, Tags=tag_list(self.tags)),
        )

    def _plan_subscription(self) -> Iterator[Change]:
        address = self.deployment.alarm_email
        if not address or address in self.subscribed_emails():
            return
        yield Change(
            f"sns subscription {self.topic_arn} email",
            "create",
            f"{address} (SNS emails a confirmation link; alarms reach it once it is clicked)",
            run=lambda: self.sns.subscribe(
                TopicArn=self.topic_arn, Protocol=EMAIL_PROTOCOL, Endpoint=address
            ),
        )

    def subscribed_emails(self) -> set[str]:
        """The topic's email addresses, confirmed or pending (none before it exists)."""
        paginator = self.sns.get_paginator("list_subscriptions_by_topic")
        try:
            return {
                subscription["Endpoint"]
                for page in paginator.paginate(TopicArn=self.topic_arn)
                for subscription in page["Subscriptions"]
                if subscription["Protocol"] == EMAIL_PROTOCOL
            }
        except self.sns.exceptions.NotFoundException:
            return set()

    def plan_destroy(self) -> list[Change]:
        """Delete the alarms that carry this deployment's tags (the subscription goes with
        the topic, which the event path deletes)."""
        ours = [name for name, alarm in self.existing().items() if self._ours(alarm["AlarmArn"])]
        return [
            Change(
                f"cloudwatch alarm {name}",
                "delete",
                run=lambda name=name: self.cloudwatch.delete_alarms(AlarmNames=[name]),
            )
            for name in ours
        ]

    def _ours(self, alarm_arn: str) -> bool:
        tags = self.cloudwatch.list_tags_for_resource(ResourceARN=alarm_arn)["Tags"]
        return is_project_resource(tags, self.deployment.prefix)
