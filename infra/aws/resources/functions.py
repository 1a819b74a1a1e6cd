"""The catalog's functions: zip (the function's own code), configuration, the alias
``live`` callers invoke, asynchronous invocation settings and reserved concurrency."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator

from botocore.exceptions import ClientError

from infra.aws.changes import Change
from infra.aws.dependency_layer import DATABASE_CA_ON_LAMBDA
from infra.aws.function_versions import (
    alias_arn,
    configuration_differences,
    describe_differences,
    live_version,
    plan_live_alias,
    wait_until_updated,
)
from infra.aws.packaging import (
    LAMBDA_RUNTIME,
    POWERTOOLS,
    FunctionContents,
    build_function_zip,
    lambda_code_sha256,
)
from infra.aws.resources.base import AwsResource
from infra.aws.resources.layer import Layer
from infra.aws.resources.rds_proxy import RdsProxy
from infra.catalog import (
    FUNCTIONS,
    LIVE_ALIAS,
    QUEUES,
    TOPICS,
    FunctionArn,
    FunctionSpec,
    reserved_concurrency,
    resolve_environment,
)


class Functions(AwsResource):
    """Each declared function, as declared, with its alias live."""

    key = "functions"

    def __init__(self, context) -> None:
        super().__init__(context)
        self._packages: dict[str, bytes] = {}

    @property
    def lambda_(self):
        return self.context.client("lambda")

    @property
    def layer(self) -> Layer:
        return self.context.resource(Layer)

    # -- what is desired -----------------------------------------------------------------

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        context = self.context
        queue_urls = {
            q.name: context.queue_url(q.name) or f"<url of queue {q.name}>" for q in QUEUES
        }
        topic_arns = {t.name: context.topic_arn(t.name) for t in TOPICS}
        environment = resolve_environment(spec, self.deployment, topic_arns, queue_urls)
        if "DATABASE_TLS_CA" in environment and context.options.vendor_dependencies:
            # The bundle travels in the dependencies layer (database_tls_ca names the file
            # here); the functions that connect carry that layer (they import PyMySQL).
            environment["DATABASE_TLS_CA"] = DATABASE_CA_ON_LAMBDA
        return context.resource(RdsProxy).client_environment(spec, environment)

    def function_settings(self, spec: FunctionSpec, layers: bool = True) -> dict:
        """The declared configuration (``layers``: with the layers, which name the layer's
        version: the code's business, like the zip)."""
        settings = {
            "Role": self.context.role_arn(spec),
            "Handler": spec.handler,
            "Runtime": LAMBDA_RUNTIME,
            "Timeout": spec.timeout_seconds,
            "MemorySize": spec.memory_mb,
            "Environment": {"Variables": self.environment(spec)},
            "Description": spec.description,
        }
        if layers:
            settings["Layers"] = self.function_layers(spec)
        if self.context.in_vpc(spec):
            settings["VpcConfig"] = {
                "SubnetIds": list(self.deployment.subnet_ids),
                "SecurityGroupIds": list(self.deployment.security_group_ids),
            }
        return settings

    def contents(self, spec: FunctionSpec) -> FunctionContents:
        """What the function's zip holds and which libraries its code imports."""
        return self.layer.contents[spec.name]

    def function_layers(self, spec: FunctionSpec) -> list[str]:
        """The layers the function needs: the project's when it imports a library the layer
        holds, AWS's public Powertools layer (when set) when it imports Powertools."""
        if not self.context.options.vendor_dependencies:
            return []
        imported = self.contents(spec).layer_libraries()
        layers = [self.layer.version_arn] if imported & self.layer.libraries else []
        if self.layer.public_powertools and POWERTOOLS in imported:
            layers.append(self.deployment.powertools_layer_arn)
        return layers

    def package(self, spec: FunctionSpec) -> bytes:
        """The function's zip: its own code, nothing vendored (see :mod:`infra.aws.packaging`)."""
        if spec.name not in self._packages:
            self._packages[spec.name] = build_function_zip(spec.handler)
        return self._packages[spec.name]

    def live_arn(self, function: str) -> str:
        """The ARN callers invoke: the function's alias ``live``."""
        return alias_arn(self.context.resource_arn(FunctionArn(function)))

    # -- the difference ------------------------------------------------------------------

    def plan(self) -> Iterator[Change]:
        for spec in FUNCTIONS:
            yield from self._plan_function(spec)

    def _plan_function(self, spec: FunctionSpec) -> Iterator[Change]:
        name = self.context.function_name(spec)
        resource = f"lambda function {name}"
        settings = self.function_settings(spec)
        code_sha = lambda_code_sha256(self.package(spec))
        try:
            current = self.lambda_.get_function(FunctionName=name)["Configuration"]
        except self.lambda_.exceptions.ResourceNotFoundException:
            current = None
            yield Change(
                resource,
                "create",
                f"{spec.handler}, {spec.timeout_seconds} s, {spec.memory_mb} MB",
                run=lambda: self._create_function(spec),
            )
        differing = configuration_differences(current, settings) if current else []
        code_changed = current is not None and current.get("CodeSha256") != code_sha
        if differing:
            # Settings read when the change runs: a layer published by an earlier change.
            yield Change(
                resource,
                "update",
                "configuration: " + describe_differences(current, settings, differing),
                run=lambda: self._update(
                    name,
                    lambda: self.lambda_.update_function_configuration(
                        FunctionName=name, **self.function_settings(spec)
                    ),
                ),
            )
        if code_changed:
            yield Change(
                resource,
                "update",
                f"code (zip {len(self.package(spec)) / 1024:.0f} KiB)",
                run=lambda: self._update(
                    name,
                    lambda: self.lambda_.update_function_code(
                        FunctionName=name, ZipFile=self.package(spec)
                    ),
                ),
            )
        yield from plan_live_alias(
            self.lambda_,
            name,
            code_sha,
            settings,
            exists=current is not None,
            changing=bool(differing or code_changed),
        )
        for qualifier in (None, LIVE_ALIAS):
            # On the function (old triggers call it unqualified) and on its alias live
            # (what callers invoke now): Lambda keeps them per qualifier.
            yield from self._plan_async_settings(spec, current is not None, qualifier)
        yield from self._plan_reserved_concurrency(spec, exists=current is not None)

    def plan_configuration(
        self, functions: Iterable[str], alias: str | None = LIVE_ALIAS, *, missing: bool = False
    ) -> Iterator[Change]:
        """What :meth:`plan` finds of the named functions, their code aside (no zip is
        built; the code, and the layer version it runs with, are the deploy's business):
        each exists, its configuration (role, handler, limits, environment, VPC) is the
        declared one, and (``alias`` given) its alias ``live`` points at a published version
        holding that configuration. ``missing``: only what creates the function or its
        alias (what a caller needs). Changes that ``deploy apply --only functions`` makes
        (it plans the code too); read by the doctor."""
        for spec in FUNCTIONS:
            if spec.name in functions:
                yield from self._plan_configuration(spec, alias, missing)

    def _plan_configuration(
        self, spec: FunctionSpec, alias: str | None, missing: bool
    ) -> Iterator[Change]:
        name = self.context.function_name(spec)
        try:
            current = self.lambda_.get_function(FunctionName=name)["Configuration"]
        except self.lambda_.exceptions.ResourceNotFoundException:
            yield Change(
                f"lambda function {name}",
                "create",
                f"{spec.handler}, {spec.timeout_seconds} s, {spec.memory_mb} MB",
            )
            return
        settings = self.function_settings(spec, layers=False)
        if missing and (alias is None or live_version(self.lambda_, name) is not None):
            return
        differing = [] if missing else configuration_differences(current, settings)
        if differing:
            yield Change(
                f"lambda function {name}",
                "update",
                "configuration: " + describe_differences(current, settings, differing),
            )
        if alias is not None:
            yield from plan_live_alias(
                self.lambda_, name, None, settings, exists=True, changing=bool(differing)
            )

    def _update(self, name: str, update) -> None:
        # Lambda refuses an update while the previous one is still being applied.
        wait_until_updated(self.lambda_, name)
        update()

    def _create_function(self, spec: FunctionSpec) -> None:
        # A role created seconds ago may not be assumable yet (IAM is eventually consistent).
        for attempt in range(10):
            try:
                self.lambda_.create_function(
                    FunctionName=self.context.function_name(spec),
                    Code={"ZipFile": self.package(spec)},
                    Tags=self.tags,
                    **self.function_settings(spec),
                )
                break
            except ClientError as error:
                message = error.response["Error"].get("Message", "")
                if "cannot be assumed" not in message or attempt == 9:
                    raise
                time.sleep(3)
        # A new function is Pending until Lambda has prepared it: no version before that.
        self.lambda_.get_waiter("function_active_v2").wait(
            FunctionName=self.context.function_name(spec)
        )

    def _plan_async_settings(
        self, spec: FunctionSpec, exists: bool, qualifier: str | None
    ) -> Iterator[Change]:
        """Asynchronous invocation settings of the function or one qualifier of it."""
        name = self.context.function_name(spec)
        qualified = {"Qualifier": qualifier} if qualifier else {}
        destination = (
            {"OnFailure": {"Destination": self.context.queue_arn(spec.on_failure_queue)}}
            if spec.on_failure_queue
            else {}
        )
        current = None
        if exists:
            with contextlib.suppress(self.lambda_.exceptions.ResourceNotFoundException):
                current = self.lambda_.get_function_event_invoke_config(
                    FunctionName=name, **qualified
                )
        current_destination = (current or {}).get("DestinationConfig", {}).get("OnFailure", {})
        age = (
            {"MaximumEventAgeInSeconds": spec.max_event_age_seconds}
            if spec.max_event_age_seconds is not None
            else {}
        )
        if (
            current is None
            or current.get("MaximumRetryAttempts") != spec.max_retry_attempts
            or any(current.get(key) != value for key, value in age.items())
            or current_destination.get("Destination")
            != destination.get("OnFailure", {}).get("Destination")
        ):
            yield Change(
                f"lambda function {name}{':' + qualifier if qualifier else ''} async invocation",
                "set",
                f"{spec.max_retry_attempts} retries"
                + (f", events dropped after {spec.max_event_age_seconds} s" if age else "")
                + (f", then queue {spec.on_failure_queue}" if spec.on_failure_queue else ""),
                run=lambda: self.lambda_.put_function_event_invoke_config(
                    FunctionName=name,
                    MaximumRetryAttempts=spec.max_retry_attempts,
                    DestinationConfig=destination,
                    **age,
                    **qualified,
                ),
            )

    def _plan_reserved_concurrency(self, spec: FunctionSpec, exists: bool) -> Iterator[Change]:
        """The function's reserved concurrency (PutFunctionConcurrency), when the catalog
        declares one: at most that many instances at once, on the function (not a version:
        Lambda keeps it per function). A setting of 0 removes the reservation. A function
        that declares none is left as it is."""
        if spec.reserved_concurrency is None:
            return
        name = self.context.function_name(spec)
        wanted = reserved_concurrency(spec, self.deployment)
        current = None
        if exists:
            current = self.lambda_.get_function_concurrency(FunctionName=name).get(
                "ReservedConcurrentExecutions"
            )
        if current == wanted:
            return
        resource = f"lambda function {name} reserved concurrency"
        if wanted is None:
            yield Change(
                resource,
                "delete",
                f"{current} -> none ({spec.reserved_concurrency.name} = 0)",
                run=lambda: self.lambda_.delete_function_concurrency(FunctionName=name),
            )
            return
        yield Change(
            resource,
            "set",
            f"{current if current is not None else 'none'} -> {wanted}",
            run=lambda: self.lambda_.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=wanted
            ),
        )

    # -- destroy -------------------------------------------------------------------------

    def plan_destroy(self) -> list[Change]:
        """Delete the functions that carry the deployment's tags (their mappings go first,
        with the event sources)."""
        changes = []
        for spec in FUNCTIONS:
            name = self.context.function_name(spec)
            try:
                configuration = self.lambda_.get_function(FunctionName=name)["Configuration"]
            except self.lambda_.exceptions.ResourceNotFoundException:
                continue
            tags = self.lambda_.list_tags(Resource=configuration["FunctionArn"])["Tags"]
            if self.context.ours(tags):
                changes.append(
                    Change(
                        f"lambda function {name}",
                        "delete",
                        run=lambda name=name: self.lambda_.delete_function(FunctionName=name),
                    )
                )
        return changes
