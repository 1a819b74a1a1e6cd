"""The tags every resource of a deployment carries, and the test "is this ours?" that
destroy and the adoption refusal rely on; and the tags by which the local stack says how it
departs from AWS: on the (disabled) event source mapping, that it feeds a function from a
queue itself; on a function, that its own runtime runs it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PROJECT = "aurora-events"
# On an event source mapping: its value names what feeds the function from the queue in
# the mapping's stead, so the mapping is disabled on purpose. The local stack, whose own
# poller (infra/local/event_source.py) feeds the drain, writes it; the mappings' plan reads
# it (infra/aws/resources/event_sources.py: such a mapping is declared disabled). Here, so
# that the resources and the local stack do not import each other.
OWN_POLLER_TAG = "aurora-events:own-poller"
# On a function: its value names what runs the function's code in Lambda's stead, from this
# repository with its dependencies (so no layer, and the CA bundle where this machine has
# it: EventPathOptions(vendor_dependencies=False)). The local stack writes it; the doctor
# reads it, to plan the functions as they were deployed.
LOCAL_RUNTIME_TAG = "aurora-events:local-runtime"


def project_tags(prefix: str) -> dict[str, str]:
    """The tags every resource of a deployment carries; destroy removes only these."""
    return {"project": PROJECT, "aurora-events:prefix": prefix}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """AWS's ``[{"Key": ..., "Value": ...}]`` form."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def is_project_resource(tags: Iterable[Mapping[str, str]] | Mapping[str, str], prefix: str) -> bool:
    """True when ``tags`` (AWS's Key/Value list, or a dict) mark a resource of this prefix."""
    if not isinstance(tags, Mapping):
        tags = {tag["Key"]: tag["Value"] for tag in tags}
    return all(tags.get(key) == value for key, value in project_tags(prefix).items())
