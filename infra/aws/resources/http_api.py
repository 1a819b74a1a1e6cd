"""The HTTP API in front of the ingest function (API Gateway v2): ``<prefix>-api``, tagged,
one route per ingest resource (``POST /customers``, ``POST /orders``: the resources are
declared once, in :data:`functions.common.resources.RESOURCES`, and the local endpoint
serves the same :func:`route_keys`), each integrated (``AWS_PROXY``, payload 2.0) with
the ingest function's alias ``live``; one stage, ``Deployment.api_stage`` (auto-deploy),
throttled (``api_burst_limit``, ``api_rate_limit``) and writing JSON access logs to the
log group ``/aws/apigateway/<prefix>-api``; CORS only when ``api_cors_origins`` names
origins; and per route, a statement in the alias's resource policy letting API Gateway
invoke it only from that route of this API (``AWS:SourceArn``).

Every route carries the authorization ``api_auth`` names: ``iam`` (``AWS_IAM``: SigV4-signed
requests only; the function reads the caller's ARN), ``jwt`` (``JWT``, with the one
authorizer ``<prefix>-api-jwt``: tokens of ``api_jwt_issuer`` for ``api_jwt_audience`` in
the ``Authorization`` header; the function reads the token's ``sub``), or ``none``
(anonymous: only when set so on purpose; any other value is refused by the plan).

Why an HTTP API and not a REST API: the ingest function validates every request itself,
so none of REST API's extras (request validation, usage plans, API keys, caching) would
be used; an HTTP API costs $1.00 per million requests against $3.50, adds less latency,
and its payload 2.0 is what the function reads first.

An API or log group of this deployment's name without its tags is someone else's: the
plan refuses it, and destroy leaves it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from infra.aws.changes import Change, call_unless_unsupported
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.resources.base import AwsResource, converge
from infra.aws.resources.http_api_routes import HttpApiRoutes
from infra.aws.resources.http_api_settings import (
    ACCESS_LOG_RETENTION_DAYS,
    INGEST_FUNCTION,
    PAYLOAD_FORMAT_VERSION,
    check_api_settings,
    comparable_cors,
    cors_configuration,
    route_keys,
    stage_drift,
    stage_path,
    stage_settings,
)
from infra.aws.tags import is_project_resource
from infra.catalog import LIVE_ALIAS, FunctionArn

# -- the plan ----------------------------------------------------------------------------


class HttpApi(HttpApiRoutes, AwsResource):
    """Plans the HTTP API of one deployment (in front of the ingest function's alias).

    The API's and its integration's ids are learnt when the plan reads them, or when its
    changes create them, so later changes of the same apply can use them.
    """

    key = "http-api"

    def __init__(self, context) -> None:
        super().__init__(context)
        self.function_arn = context.resource_arn(FunctionArn(INGEST_FUNCTION))
        self.apigateway = context.client("apigatewayv2")
        self.logs = context.client("logs")
        self.lambda_ = context.client("lambda")
        self.api_id: str | None = None
        self.integration_id: str | None = None
        self.authorizer_id: str | None = None

    def execute_api_arn(self, resource: str) -> str:
        return self.target.arn("execute-api", resource)

    def log_group_arn(self, name: str) -> str:
        return self.target.arn("logs", f"log-group:{name}")

    @property
    def name(self) -> str:
        return self.deployment.resource_name("api")

    @property
    def stage(self) -> str:
        return self.deployment.api_stage

    @property
    def log_group_name(self) -> str:
        return f"/aws/apigateway/{self.name}"

    @property
    def function_name(self) -> str:
        return self.function_arn.rsplit(":", 1)[1]

    @property
    def alias_arn(self) -> str:
        """What the API invokes: the ingest function's alias ``live``."""
        return f"{self.function_arn}:{LIVE_ALIAS}"

    # -- reading ---------------------------------------------------------------------

    def find_api(self) -> dict | None:
        """The API of this deployment's name that carries its tags; None when there is
        none; :class:`ForeignResourceError` when one of that name lacks them."""
        named = [
            api
            for page in self.apigateway.get_paginator("get_apis").paginate()
            for api in page.get("Items", [])
            if api.get("Name") == self.name
        ]
        ours = [api for api in named if self._ours(api.get("Tags") or {})]
        if ours:
            return ours[0]
        if named:
            raise ForeignResourceError(
                f"http api {self.name} ({named[0]['ApiId']}) exists but does not carry this "
                "deployment's tags; it may belong to something else. Delete it or choose "
                "another prefix"
            )
        return None

    def invoke_url(self) -> str | None:
        """``https://<api-id>.execute-api.<region>.amazonaws.com/<stage>``, once it exists."""
        api = self.find_api()
        if api is None:
            return None
        return api["ApiEndpoint"] + stage_path(self.stage)

    def _find_log_group(self) -> dict | None:
        groups = self.logs.describe_log_groups(logGroupNamePrefix=self.log_group_name)
        return next(
            (g for g in groups["logGroups"] if g["logGroupName"] == self.log_group_name), None
        )

    def _log_group_is_ours(self) -> bool:
        tags = self.logs.list_tags_for_resource(
            resourceArn=self.log_group_arn(self.log_group_name)
        )["tags"]
        return self._ours(tags)

    def _items(self, operation: str, **arguments) -> list[dict]:
        pages = self.apigateway.get_paginator(operation).paginate(**arguments)
        return [item for page in pages for item in page.get("Items", [])]

    # -- plan ------------------------------------------------------------------------

    def plan(self) -> Iterator[Change]:
        """Log group, API, CORS, integration, routes, stage and invoke permissions; nothing
        when they are as declared."""
        check_api_settings(self.deployment)
        api = self.find_api()
        self.api_id = api["ApiId"] if api else None
        yield from self._plan_log_group()
        if api is None:
            yield self._create_api_change()
        else:
            yield from self._plan_cors(api)
        strays = yield from self._plan_integration()
        stray_authorizers = yield from self._plan_authorizer()
        yield from self._plan_routes()
        # After the routes: none of them points at a stray integration any more by then.
        for authorizer_id in stray_authorizers:
            yield Change(
                f"http api {self.name} authorizer {authorizer_id}",
                "delete",
                f"api_auth is {self.deployment.api_auth}",
                run=lambda authorizer_id=authorizer_id: self.apigateway.delete_authorizer(
                    ApiId=self.api_id, AuthorizerId=authorizer_id
                ),
            )
        for integration_id in strays:
            yield Change(
                f"http api {self.name} integration {integration_id}",
                "delete",
                "not the ingest alias's",
                run=lambda integration_id=integration_id: self.apigateway.delete_integration(
                    ApiId=self.api_id, IntegrationId=integration_id
                ),
            )
        yield from self._plan_stages()
        yield from self._plan_permissions()

    def _plan_log_group(self) -> Iterator[Change]:
        name = self.log_group_name

        def create() -> None:
            self.logs.create_log_group(logGroupName=name, tags=self.tags)
            self.logs.put_retention_policy(
                logGroupName=name, retentionInDays=ACCESS_LOG_RETENTION_DAYS
            )

        def drift(group: dict) -> list[str]:
            now = group.get("retentionInDays")
            if now == ACCESS_LOG_RETENTION_DAYS:
                return []
            return [f"retention: {now} -> {ACCESS_LOG_RETENTION_DAYS} days"]

        yield from converge(
            f"cloudwatch log group {name}",
            self._find_log_group(),
            create=lambda: [
                Change(
                    f"cloudwatch log group {name}",
                    "create",
                    f"the API's access logs, kept {ACCESS_LOG_RETENTION_DAYS} days",
                    run=create,
                )
            ],
            ours=lambda _: self._log_group_is_ours(),
            drift=drift,
            update=lambda _: (
                lambda: self.logs.put_retention_policy(
                    logGroupName=name, retentionInDays=ACCESS_LOG_RETENTION_DAYS
                )
            ),
        )

    def _create_api_change(self) -> Change:
        cors = cors_configuration(self.deployment.api_cors_origins, self.deployment.api_auth)

        def create() -> None:
            settings = {"CorsConfiguration": cors} if cors else {}
            created = self.apigateway.create_api(
                Name=self.name,
                ProtocolType="HTTP",
                Description=f"Ingest API of {self.deployment.prefix}: {', '.join(route_keys())}",
                Tags=self.tags,
                **settings,
            )
            self.api_id = created["ApiId"]

        origins = ", ".join(self.deployment.api_cors_origins)
        return Change(
            f"http api {self.name}",
            "create",
            "HTTP, " + (f"CORS for {origins}" if origins else "no CORS"),
            run=create,
        )

    def _plan_cors(self, api: dict) -> Iterator[Change]:
        wanted = cors_configuration(self.deployment.api_cors_origins, self.deployment.api_auth)
        current = api.get("CorsConfiguration")
        if comparable_cors(current) == comparable_cors(wanted):
            return
        resource = f"http api {self.name} cors"
        api_id = api["ApiId"]
        if wanted is None:
            yield Change(
                resource,
                "delete",
                "no origins configured",
                run=lambda: self.apigateway.delete_cors_configuration(ApiId=api_id),
            )
            return
        before = ", ".join((current or {}).get("AllowOrigins") or []) or "none"
        detail = f"origins: {before} -> {', '.join(wanted['AllowOrigins'])}"
        if before == ", ".join(wanted["AllowOrigins"]):  # the same origins: api_auth changed
            headers = ", ".join((current or {}).get("AllowHeaders") or [])
            detail = f"allowed headers: {headers} -> {', '.join(wanted['AllowHeaders'])}"
        yield Change(
            resource,
            "update" if current else "set",
            detail,
            run=lambda: self.apigateway.update_api(ApiId=api_id, CorsConfiguration=wanted),
        )

    def _plan_integration(self) -> Generator[Change, None, list[str]]:
        """The one integration's change; returns the ids of the other integrations."""
        wanted = {
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": self.alias_arn,
            "PayloadFormatVersion": PAYLOAD_FORMAT_VERSION,
        }
        resource = f"http api {self.name} integration"
        detail = f"AWS_PROXY, payload {PAYLOAD_FORMAT_VERSION} -> {self.alias_arn}"
        integrations = self._items("get_integrations", ApiId=self.api_id) if self.api_id else []
        # One integration: the one already matching, else the first (to be updated).
        current = next(
            (i for i in integrations if i.get("IntegrationUri") == wanted["IntegrationUri"]),
            integrations[0] if integrations else None,
        )
        self.integration_id = current["IntegrationId"] if current else None
        if current is None:

            def create() -> None:
                created = self.apigateway.create_integration(ApiId=self.api_id, **wanted)
                self.integration_id = created["IntegrationId"]

            yield Change(resource, "create", detail, run=create)
        elif any(current.get(key) != value for key, value in wanted.items()):
            integration_id = current["IntegrationId"]
            yield Change(
                resource,
                "update",
                detail,
                run=lambda: self.apigateway.update_integration(
                    ApiId=self.api_id, IntegrationId=integration_id, **wanted
                ),
            )
        return [
            i["IntegrationId"]
            for i in integrations
            if current is not None and i["IntegrationId"] != current["IntegrationId"]
        ]

    def _plan_stages(self) -> Iterator[Change]:
        deployment = self.deployment
        wanted = stage_settings(
            self.stage,
            deployment.api_burst_limit,
            deployment.api_rate_limit,
            self.log_group_arn(self.log_group_name),
        )
        resource = f"http api {self.name} stage {self.stage}"
        stages = (
            {s["StageName"]: s for s in self._items("get_stages", ApiId=self.api_id)}
            if self.api_id
            else {}
        )
        throttling = f"burst {deployment.api_burst_limit}, {deployment.api_rate_limit} requests/s"
        yield from converge(
            resource,
            stages.get(self.stage),
            create=lambda: [
                Change(
                    resource,
                    "create",
                    f"auto-deploy, {throttling}, access logs to {self.log_group_name}",
                    run=lambda: self.apigateway.create_stage(
                        ApiId=self.api_id, StageName=self.stage, Tags=self.tags, **wanted
                    ),
                )
            ],
            drift=lambda current: stage_drift(current, wanted),
            update=lambda _: (
                lambda: call_unless_unsupported(
                    self.apigateway,
                    "UpdateStage",
                    lambda: self.apigateway.update_stage(
                        ApiId=self.api_id, StageName=self.stage, **wanted
                    ),
                )
            ),
        )
        for name in stages:
            if name != self.stage:
                yield Change(
                    f"http api {self.name} stage {name}",
                    "delete",
                    f"the API's stage is {self.stage}",
                    run=lambda name=name: self.apigateway.delete_stage(
                        ApiId=self.api_id, StageName=name
                    ),
                )

    # -- destroy ---------------------------------------------------------------------

    def plan_destroy(self) -> list[Change]:
        """Delete the API (routes, integration and stage go with it) and its log group,
        each only when it carries this deployment's tags; the permissions go with the
        function."""
        changes = []
        named = [
            api
            for page in self.apigateway.get_paginator("get_apis").paginate()
            for api in page.get("Items", [])
            if api.get("Name") == self.name and self._ours(api.get("Tags") or {})
        ]
        for api in named:
            changes.append(
                Change(
                    f"http api {self.name} ({api['ApiId']})",
                    "delete",
                    run=lambda api_id=api["ApiId"]: self.apigateway.delete_api(ApiId=api_id),
                )
            )
        if self._find_log_group() is not None and self._log_group_is_ours():
            changes.append(
                Change(
                    f"cloudwatch log group {self.log_group_name}",
                    "delete",
                    run=lambda: self.logs.delete_log_group(logGroupName=self.log_group_name),
                )
            )
        return changes

    def _ours(self, tags) -> bool:
        return is_project_resource(tags, self.deployment.prefix)
