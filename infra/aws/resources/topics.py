"""The catalog's SNS topics (``<prefix>-<name>``, tagged)."""

from __future__ import annotations

from collections.abc import Iterator

from infra.aws.changes import Change
from infra.aws.resources.base import AwsResource
from infra.aws.tags import tag_list
from infra.catalog import TOPICS


class Topics(AwsResource):
    """Each declared topic exists; destroy deletes those with the deployment's tags."""

    key = "topics"

    def plan(self) -> Iterator[Change]:
        sns = self.context.client("sns")
        for topic in TOPICS:
            name = self.deployment.resource_name(topic.name)
            try:
                sns.get_topic_attributes(TopicArn=self.context.topic_arn(topic.name))
            except sns.exceptions.NotFoundException:
                yield Change(
                    f"sns topic {name}",
                    "create",
                    run=lambda name=name: sns.create_topic(Name=name, Tags=tag_list(self.tags)),
                )

    def plan_destroy(self) -> list[Change]:
        sns = self.context.client("sns")
        changes = []
        for topic in TOPICS:
            arn = self.context.topic_arn(topic.name)
            try:
                tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
            except (sns.exceptions.NotFoundException, sns.exceptions.ResourceNotFoundException):
                continue
            if self.context.ours(tags):
                changes.append(
                    Change(
                        f"sns topic {arn.rsplit(':', 1)[1]}",
                        "delete",
                        run=lambda arn=arn: sns.delete_topic(TopicArn=arn),
                    )
                )
        return changes
