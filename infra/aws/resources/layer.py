"""The project's dependencies layer as a resource of the deployment: what the functions
import (PyMySQL, Powertools unless AWS's public layer gives it), published when vendored
(:class:`~infra.aws.dependency_layer.DependencyLayer` builds and compares it)."""

from __future__ import annotations

from collections.abc import Iterator

from infra.aws.changes import Change
from infra.aws.dependency_layer import DependencyLayer
from infra.aws.packaging import POWERTOOLS, FunctionContents, function_contents
from infra.catalog import FUNCTIONS


def layer_libraries(contents: dict[str, FunctionContents], public_powertools: bool) -> set[str]:
    """What the project's layer holds: every library a function imports, but Powertools
    when AWS's public layer gives it."""
    libraries = {name for c in contents.values() for name in c.layer_libraries()}
    return libraries - {POWERTOOLS} if public_powertools else libraries


class Layer(DependencyLayer):
    """The layer, published when ``vendor_dependencies`` (the local runtime runs the code
    from this repository); destroy deletes this deployment's versions either way."""

    key = "layer"

    def __init__(self, context) -> None:
        self.context = context
        self.contents = {spec.name: function_contents(spec.handler) for spec in FUNCTIONS}
        self.public_powertools = bool(context.deployment.powertools_layer_arn)
        super().__init__(
            context.client("lambda"),
            context.deployment,
            layer_libraries(self.contents, self.public_powertools),
        )

    def plan(self) -> Iterator[Change]:
        # Before the functions: they name its version.
        if self.context.options.vendor_dependencies:
            yield from super().plan()
