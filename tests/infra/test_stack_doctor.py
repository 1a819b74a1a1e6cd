"""`aurora-events doctor` on a stack started as `aurora-events stack start` starts it (the
session's stack, migrated: what :func:`infra.local.stack.serve` does), with the settings
`stack env` exports: the stack's disabled event source mapping says by its tag that the
stack's own poller feeds the drain, so the doctor walks on past it and checks every later
link; without the tag, a disabled mapping is broken (the mappings' plan declares it enabled),
and applying that plan is the fix."""

from __future__ import annotations

import boto3
import pytest

from infra.aws.tags import LOCAL_RUNTIME_TAG, OWN_POLLER_TAG
from infra.local.stack import LOCAL_RUNTIME, OWN_POLLER
from tests.infra.aws.conftest import run_aurora_events

PATH_LINKS = ["api", "ingest", "queue", "mapping", "drain", "database"]
CHAIN_LINKS = [
    "role",
    "policy",
    "parameter",
    "association",
    "triggers",
    "grant",
    "functions",
    "relay",
]


def drain_mapping(stack) -> dict:
    (mapping,) = boto3.client("lambda").list_event_source_mappings(
        EventSourceArn=stack.resources.queue_arns["ingest"]
    )["EventSourceMappings"]
    return mapping


@pytest.fixture
def stack_env(migrated_stack, monkeypatch):
    """The shell after `eval "$(aurora-events stack env)"`."""
    for key, value in migrated_stack.environment().items():
        monkeypatch.setenv(key, value)
    return migrated_stack


def doctor_lines(stack, capsys) -> tuple[int, str]:
    capsys.readouterr()
    # No options: everything comes from what `stack env` exports.
    code = run_aurora_events("aurora-events doctor")
    return code, capsys.readouterr().out


def test_the_stacks_functions_say_by_their_tag_that_the_local_runtime_runs_them(stack):
    from infra.aws.doctor.path import deployed_options

    lambda_client = boto3.client("lambda")
    for arn in stack.resources.function_arns.values():
        tags = lambda_client.list_tags(Resource=arn)["Tags"]
        assert tags[LOCAL_RUNTIME_TAG] == LOCAL_RUNTIME
    # What the doctor reads: planned as the stack applied them, without the layer.
    options = deployed_options(lambda_client, stack.resources.function_arns["ingest"])
    assert options.vendor_dependencies is stack.event_path_options.vendor_dependencies is False


def test_the_doctor_walks_past_the_stacks_tagged_mapping_to_every_later_link(stack_env, capsys):
    stack = stack_env
    mapping = drain_mapping(stack)
    assert mapping["State"] == "Disabled"
    tags = boto3.client("lambda").list_tags(Resource=mapping["EventSourceMappingArn"])["Tags"]
    assert tags[OWN_POLLER_TAG] == OWN_POLLER

    code, out = doctor_lines(stack, capsys)
    checked = [line.split()[:2] for line in out.splitlines() if line.startswith(("ok", "BROKEN"))]
    assert checked == [["ok", link] for link in PATH_LINKS + CHAIN_LINKS], out
    assert code == 0, out
    prefix = stack.deployment.prefix
    assert (
        f"{prefix}-ingest.fifo -> {prefix}-drain:live ({mapping['UUID']}): Disabled, as its "
        f"tag {OWN_POLLER_TAG} says: {OWN_POLLER} feeds the drain" in out
    )
    assert out.endswith("every link checked is in place\n")


def test_without_the_tag_a_disabled_mapping_is_broken_and_enabling_it_is_the_fix(stack_env, capsys):
    stack = stack_env
    lambda_client = boto3.client("lambda")
    mapping = drain_mapping(stack)
    lambda_client.untag_resource(
        Resource=mapping["EventSourceMappingArn"], TagKeys=[OWN_POLLER_TAG]
    )
    try:
        code, out = doctor_lines(stack, capsys)
    finally:
        lambda_client.tag_resource(
            Resource=mapping["EventSourceMappingArn"], Tags={OWN_POLLER_TAG: OWN_POLLER}
        )
    assert code == 1, out
    broken = [line for line in out.splitlines() if line.startswith("BROKEN")]
    prefix = stack.deployment.prefix
    # The mappings' plan declares an untagged mapping enabled: its difference is the finding.
    assert len(broken) == 1 and broken[0].startswith(
        f"BROKEN  mapping      event source mapping ingest -> {prefix}-drain:live: update "
        f"({mapping['UUID']}: Enabled: False -> True)"
    ), out
    assert out.endswith(
        "fix (aurora-events):\n"
        f"  aurora-events deploy apply --prefix {prefix} --only event-sources\n"
    )
