"""The catalog's schedules on AWS: one EventBridge rule per :class:`~infra.catalog.ScheduleSpec`
(``<prefix>-<name>``, tagged), its one target (the function), and the function's
resource-policy statement that lets EventBridge invoke it, only for that rule
(``AWS:SourceArn`` = the rule's ARN).

Why an EventBridge rule and not EventBridge Scheduler: a rule invokes the function through
the function's resource policy, which can be scoped to the rule's ARN, and the rule itself
carries the deployment's tags (destroy removes only what is tagged ours); Scheduler would
need an IAM role for the scheduler to assume (one more role with invoke rights to keep
least-privileged) and its schedules cannot be tagged. A rule's one-minute granularity is
all the backstop needs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator

from infra.aws.changes import Change
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.tags import is_project_resource, tag_list
from infra.catalog import SCHEDULES, Deployment, ScheduleSpec

EVENTS_SERVICE = "events.amazonaws.com"
INVOKE_ACTION = "lambda:InvokeFunction"


class ForeignRuleError(ForeignResourceError):
    """A rule with this deployment's name exists without its tags: not ours to rewrite
    (reported like a foreign IAM role; no option adopts it)."""


def invoke_statement(statement_id: str, function_arn: str, rule_arn: str) -> dict:
    """The function's resource-policy statement for the rule, in the form Lambda returns."""
    return {
        "Sid": statement_id,
        "Effect": "Allow",
        "Principal": {"Service": EVENTS_SERVICE},
        "Action": INVOKE_ACTION,
        "Resource": function_arn,
        "Condition": {"ArnLike": {"AWS:SourceArn": rule_arn}},
    }


class Schedules:
    """Plans the schedules of one deployment (``function_arn(name)`` predicts ARNs)."""

    def __init__(
        self,
        deployment: Deployment,
        rule_arn: Callable[[str], str],
        function_arn: Callable[[str], str],
        tags: dict[str, str],
        events,
        lambda_,
    ) -> None:
        self.deployment = deployment
        self.rule_arn = rule_arn
        self.function_arn = function_arn
        self.tags = tags
        self.events = events
        self.lambda_ = lambda_

    def rule_name(self, spec: ScheduleSpec) -> str:
        return self.deployment.resource_name(spec.name)

    def plan(self) -> Iterator[Change]:
        """Rule, target and permission for each schedule; nothing when they are as declared."""
        for spec in SCHEDULES:
            yield from self._plan_rule(spec)
            yield from self._plan_target(spec)
            yield from self._plan_permission(spec)

    def _plan_rule(self, spec: ScheduleSpec) -> Iterator[Change]:
        name = self.rule_name(spec)
        resource = f"eventbridge rule {name}"
        current = None
        with contextlib.suppress(self.events.exceptions.ResourceNotFoundException):
            current = self.events.describe_rule(Name=name)
        if current is not None and not self._ours(current["Arn"]):
            raise ForeignRuleError(
                f"{resource} exists but does not carry this deployment's tags; it may belong "
                "to something else. Delete it or choose another prefix"
            )

        def put() -> None:
            self.events.put_rule(
                Name=name,
                ScheduleExpression=spec.rate,
                State="ENABLED",
                Description=spec.description,
                Tags=tag_list(self.tags),
            )

        if current is None:
            yield Change(resource, "create", f"{spec.rate} -> {spec.function}", run=put)
        elif current.get("ScheduleExpression") != spec.rate or current.get("State") != "ENABLED":
            yield Change(
                resource,
                "update",
                f"{current.get('ScheduleExpression')} {current.get('State')} -> "
                f"{spec.rate} ENABLED",
                run=put,
            )

    def _plan_target(self, spec: ScheduleSpec) -> Iterator[Change]:
        name = self.rule_name(spec)
        wanted = self.function_arn(spec.function)
        targets = []
        with contextlib.suppress(self.events.exceptions.ResourceNotFoundException):
            targets = self.events.list_targets_by_rule(Rule=name)["Targets"]
        # Exactly one target, the function: anything else was added by hand and would run
        # on our schedule.
        if [(t["Id"], t["Arn"]) for t in targets] == [(spec.function, wanted)]:
            return
        strays = [t["Id"] for t in targets if t["Id"] != spec.function]

        def put() -> None:
            if strays:
                self.events.remove_targets(Rule=name, Ids=strays)
            self.events.put_targets(Rule=name, Targets=[{"Id": spec.function, "Arn": wanted}])

        yield Change(f"eventbridge rule {name} target", "set", wanted, run=put)

    def _plan_permission(self, spec: ScheduleSpec) -> Iterator[Change]:
        function = self.deployment.resource_name(spec.function)
        statement_id = self.rule_name(spec)
        rule_arn = self.rule_arn(self.rule_name(spec))
        wanted = invoke_statement(statement_id, self.function_arn(spec.function), rule_arn)
        statements = []
        with contextlib.suppress(self.lambda_.exceptions.ResourceNotFoundException):
            policy = self.lambda_.get_policy(FunctionName=function)["Policy"]
            statements = json.loads(policy)["Statement"]
        current = next((s for s in statements if s.get("Sid") == statement_id), None)
        if current == wanted:
            return

        def put() -> None:
            if current is not None:
                self.lambda_.remove_permission(FunctionName=function, StatementId=statement_id)
            self.lambda_.add_permission(
                FunctionName=function,
                StatementId=statement_id,
                Action=INVOKE_ACTION,
                Principal=EVENTS_SERVICE,
                SourceArn=rule_arn,
            )

        yield Change(
            f"lambda function {function} permission {statement_id}",
            "set" if current is None else "update",
            f"{EVENTS_SERVICE} may invoke it, only from rule {rule_arn}",
            run=put,
        )

    def plan_destroy(self) -> list[Change]:
        """Delete the rules that carry this deployment's tags (their targets first); the
        permission goes with the function."""
        changes = []
        for spec in SCHEDULES:
            name = self.rule_name(spec)
            try:
                arn = self.events.describe_rule(Name=name)["Arn"]
            except self.events.exceptions.ResourceNotFoundException:
                continue
            if not self._ours(arn):
                continue

            def delete(name=name) -> None:
                ids = [t["Id"] for t in self.events.list_targets_by_rule(Rule=name)["Targets"]]
                if ids:
                    self.events.remove_targets(Rule=name, Ids=ids)
                self.events.delete_rule(Name=name)

            changes.append(Change(f"eventbridge rule {name}", "delete", run=delete))
        return changes

    def _ours(self, rule_arn: str) -> bool:
        tags = self.events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"]
        return is_project_resource(tags, self.deployment.prefix)
