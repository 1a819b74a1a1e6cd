"""One least-privilege execution role per function (``<prefix>-<function>``): trusting
Lambda, with one inline policy of the function's declared permissions.

A role of this deployment's name that lacks its tags is someone else's until adopted
(``adopt_existing_roles``): the plan refuses it rather than rewrite it."""

from __future__ import annotations

from collections.abc import Iterator

from infra.aws.changes import Change
from infra.aws.iam_roles import (
    attached_policy_arns,
    inline_policy_names,
    plan_inline_policy,
    plan_service_role,
    role_tags,
)
from infra.aws.resources.base import AwsResource
from infra.catalog import FUNCTIONS, FunctionSpec

LAMBDA_SERVICE = "lambda.amazonaws.com"
ROLE_POLICY_NAME = "least-privilege"
# Earlier deployments attached this managed policy to in-VPC functions' roles: its logs
# statement is on "*". The inline policy now holds what it gave; apply detaches it.
VPC_ACCESS_POLICY = "arn:{partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
# What Lambda needs to give an in-VPC function its network interfaces (the managed
# policy's EC2 actions, as of its version 3). On "*": the Describe actions allow no
# narrower resource, and the interfaces Lambda creates, deletes and assigns addresses to
# do not exist before it makes them, so no ARN can name them in advance.
VPC_NETWORK_INTERFACE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


class ExecutionRoles(AwsResource):
    """The functions' execution roles and their inline policies."""

    key = "roles"

    def role_name(self, spec: FunctionSpec) -> str:
        return self.deployment.resource_name(spec.name)

    def role_policy(self, spec: FunctionSpec) -> dict:
        """The execution role's inline policy: its logs, its declared permissions, its DLQ,
        and in a VPC the network interface actions Lambda needs (on "*", as AWS requires)."""
        name = self.context.function_name(spec)
        log_group = self.target.arn("logs", f"log-group:/aws/lambda/{name}")
        statements = [
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group, f"{log_group}:*"],
            }
        ]
        for number, permission in enumerate(spec.permissions, 1):
            statements.append(
                {
                    "Sid": f"Declared{number}",
                    "Effect": "Allow",
                    "Action": list(permission.actions),
                    "Resource": self.context.permission_resource(permission.resource),
                }
            )
        if spec.on_failure_queue:
            statements.append(
                {
                    "Sid": "OnFailureDestination",
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage"],
                    "Resource": self.context.queue_arn(spec.on_failure_queue),
                }
            )
        if self.context.in_vpc(spec):
            statements.append(
                {
                    "Sid": "VpcNetworkInterfaces",
                    "Effect": "Allow",
                    "Action": list(VPC_NETWORK_INTERFACE_ACTIONS),
                    "Resource": "*",
                }
            )
        return {"Version": "2012-10-17", "Statement": statements}

    def plan(self) -> Iterator[Change]:
        for spec in FUNCTIONS:
            yield from self._plan_role(spec)

    def _plan_role(self, spec: FunctionSpec) -> Iterator[Change]:
        iam = self.context.client("iam")
        name = self.role_name(spec)
        policy = self.role_policy(spec)
        role, changes = plan_service_role(
            iam,
            name,
            LAMBDA_SERVICE,
            self.tags,
            f"Execution role of {self.context.function_name(spec)}",
            prefix=self.deployment.prefix,
            adopt=self.context.adopt_existing_roles,
        )
        yield from changes
        yield from plan_inline_policy(iam, name, role is not None, ROLE_POLICY_NAME, policy)
        # After the inline policy: an in-VPC function keeps its network permissions throughout.
        managed = VPC_ACCESS_POLICY.format(partition=self.target.partition)
        if role is not None and managed in attached_policy_arns(iam, name):
            yield Change(
                f"iam role {name}",
                "detach",
                f"{managed} (its logs statement is on *; the inline policy "
                f"{ROLE_POLICY_NAME} holds what the function needs)",
                run=lambda: iam.detach_role_policy(RoleName=name, PolicyArn=managed),
            )

    def plan_destroy(self) -> list[Change]:
        return [change for spec in FUNCTIONS for change in self._destroy_role(spec)]

    def _destroy_role(self, spec: FunctionSpec) -> list[Change]:
        iam = self.context.client("iam")
        name = self.role_name(spec)
        try:
            iam.get_role(RoleName=name)
        except iam.exceptions.NoSuchEntityException:
            return []
        if not self.context.ours(role_tags(iam, name)):
            return []

        def delete_role() -> None:
            for policy in inline_policy_names(iam, name):
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
            for policy_arn in attached_policy_arns(iam, name):
                iam.detach_role_policy(RoleName=name, PolicyArn=policy_arn)
            iam.delete_role(RoleName=name)

        return [Change(f"iam role {name}", "delete", run=delete_role)]
