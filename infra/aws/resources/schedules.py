"""The catalog's schedules on AWS: one EventBridge rule per :class:`~infra.catalog.ScheduleSpec`
(``<prefix>-<name>``, tagged), its one target (the function's alias ``live``), and the
alias's resource-policy statement that lets EventBridge invoke it, only for that rule
(``AWS:SourceArn`` = the rule's ARN). Lambda keeps a resource policy per qualifier: the
statement is on the alias, which the rule invokes; the one an earlier deploy put on the
unqualified function (when the rule invoked that) is removed.

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
from collections.abc import Iterator

from infra.aws.changes import Change
from infra.aws.function_versions import alias_arn
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.resources.base import AwsResource
from infra.aws.tags import is_project_resource, tag_list
from infra.catalog import LIVE_ALIAS, SCHEDULES, FunctionArn, ScheduleSpec

EVENTS_SERVICE = "events.amazonaws.com"
INVOKE_ACTION = "lambda:InvokeFunction"


class ForeignRuleError(ForeignResourceError):
    """A rule with this deployment's name exists without its tags: not ours to rewrite
    (reported like a foreign IAM role; no option adopts it)."""


def invoke_statement(statement_id: str, function_arn: str, rule_arn: str) -> dict:
    """The resource-policy statement for the rule, in the form Lambda returns it
    (``function_arn``: the qualified ARN the policy belongs to)."""
    return {
        "Sid": statement_id,
        "Effect": "Allow",
        "Principal": {"Service": EVENTS_SERVICE},
        "Action": INVOKE_ACTION,
        "Resource": function_arn,
        "Condition": {"ArnLike": {"AWS:SourceArn": rule_arn}},
    }


def grants_the_same(statement: dict | None, wanted: dict) -> bool:
    """Whether ``statement`` allows what ``wanted`` allows. Its ``Resource`` is not
    compared: the statement is read from the alias's own policy, so it is the alias
    (moto writes a different form of it)."""
    keys = ("Effect", "Principal", "Action", "Condition")
    return statement is not None and all(statement.get(key) == wanted[key] for key in keys)


class Schedules(AwsResource):
    """Plans the schedules of one deployment."""

    key = "schedules"

    def __init__(self, context) -> None:
        super().__init__(context)
        self.events = context.client("events")
        self.lambda_ = context.client("lambda")

    def rule_arn(self, name: str) -> str:
        return self.target.arn("events", f"rule/{name}")

    def function_arn(self, function: str) -> str:
        """The function's unqualified ARN."""
        return self.context.resource_arn(FunctionArn(function))

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

    def target_arn(self, spec: ScheduleSpec) -> str:
        """What the rule invokes: the function's alias live."""
        return alias_arn(self.function_arn(spec.function))

    def _plan_target(self, spec: ScheduleSpec) -> Iterator[Change]:
        name = self.rule_name(spec)
        wanted = self.target_arn(spec)
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

    def _policy_statements(self, function: str, qualifier: str | None = None) -> list[dict]:
        """The statements of the function's (or its alias's) resource policy; none when
        there is no policy, or no function or alias yet."""
        qualified = {"Qualifier": qualifier} if qualifier else {}
        with contextlib.suppress(self.lambda_.exceptions.ResourceNotFoundException):
            policy = self.lambda_.get_policy(FunctionName=function, **qualified)["Policy"]
            return json.loads(policy)["Statement"]
        return []

    def _plan_permission(self, spec: ScheduleSpec) -> Iterator[Change]:
        function = self.deployment.resource_name(spec.function)
        statement_id = self.rule_name(spec)
        rule_arn = self.rule_arn(self.rule_name(spec))
        wanted = invoke_statement(statement_id, self.target_arn(spec), rule_arn)
        unqualified = self.function_arn(spec.function)
        # A statement on the function itself is not the alias's (moto lists both here).
        current = next(
            (
                s
                for s in self._policy_statements(function, LIVE_ALIAS)
                if s.get("Sid") == statement_id and s.get("Resource") != unqualified
            ),
            None,
        )
        if not grants_the_same(current, wanted):

            def put() -> None:
                if current is not None:
                    self.lambda_.remove_permission(
                        FunctionName=function, StatementId=statement_id, Qualifier=LIVE_ALIAS
                    )
                self.lambda_.add_permission(
                    FunctionName=function,
                    StatementId=statement_id,
                    Action=INVOKE_ACTION,
                    Principal=EVENTS_SERVICE,
                    SourceArn=rule_arn,
                    Qualifier=LIVE_ALIAS,
                )

            yield Change(
                f"lambda function {function}:{LIVE_ALIAS} permission {statement_id}",
                "set" if current is None else "update",
                f"{EVENTS_SERVICE} may invoke it, only from rule {rule_arn}",
                run=put,
            )
        yield from self._plan_unqualified_permission(spec, function, statement_id)

    def _plan_unqualified_permission(
        self, spec: ScheduleSpec, function: str, statement_id: str
    ) -> Iterator[Change]:
        """Remove the statement an earlier deploy put on the unqualified function: the rule
        invokes the alias now. Only that statement: its ``Resource`` is the function itself
        (moto shows the alias's statement here too, with the alias as its resource)."""
        unqualified = self.function_arn(spec.function)
        stale = [
            s
            for s in self._policy_statements(function)
            if s.get("Sid") == statement_id and s.get("Resource") == unqualified
        ]
        if stale:
            yield Change(
                f"lambda function {function} permission {statement_id}",
                "remove",
                "the rule invokes the alias now",
                run=lambda: self.lambda_.remove_permission(
                    FunctionName=function, StatementId=statement_id
                ),
            )

    def plan_destroy(self) -> list[Change]:
        """Delete the rules that carry this deployment's tags (their targets first); the
        permissions go with the function."""
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
