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

import contextlib
import json
import re
from collections.abc import Generator, Iterator

from infra.aws.changes import Change, UnsupportedOperation, call_unless_unsupported
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.resources.base import AwsResource, converge
from infra.aws.resources.http_api_settings import (
    ACCESS_LOG_RETENTION_DAYS,
    API_AUTH_TYPES,
    API_SERVICE,
    INGEST_FUNCTION,
    INVOKE_ACTION,
    PAYLOAD_FORMAT_VERSION,
    authorizer_drift,
    check_api_settings,
    comparable_cors,
    cors_configuration,
    invoke_statement,
    jwt_authorizer,
    route_keys,
    stage_drift,
    stage_path,
    stage_settings,
)
from infra.aws.tags import is_project_resource
from infra.catalog import LIVE_ALIAS, FunctionArn

# -- the plan ----------------------------------------------------------------------------


class HttpApi(AwsResource):
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
    def authorizer_name(self) -> str:
        """The JWT authorizer's name (``api_auth = "jwt"``): ``<prefix>-api-jwt``."""
        return f"{self.name}-jwt"

    @property
    def authorization_type(self) -> str:
        """The routes' ``AuthorizationType``: ``AWS_IAM``, ``JWT`` or ``NONE``."""
        return API_AUTH_TYPES[self.deployment.api_auth]

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

    def statement_id(self, route_key: str) -> str:
        """The alias policy's statement for a route: ``<prefix>-api-<resource>``."""
        return f"{self.name}-{route_key.split('/', 1)[1]}"

    def source_arn(self, route_key: str, api_id: str) -> str:
        """Only this route of this API, on its stage: ``<api-id>/<stage>/POST/orders``."""
        method, path = route_key.split(" ", 1)
        return self.execute_api_arn(f"{api_id}/{self.stage}/{method}{path}")

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

    def _routes(self) -> dict[str, dict]:
        """The API's routes by route key; none before the API exists."""
        if not self.api_id:
            return {}
        return {r["RouteKey"]: r for r in self._items("get_routes", ApiId=self.api_id)}

    def _authorizers(self) -> list[dict]:
        """The API's authorizers. Where the endpoint lacks GetAuthorizers (moto), those its
        routes name, read one by one: an authorizer no route uses is not seen there."""
        if not self.api_id:
            return []
        try:
            return call_unless_unsupported(
                self.apigateway,
                "GetAuthorizers",
                lambda: self._items("get_authorizers", ApiId=self.api_id),
            )
        except UnsupportedOperation:
            named = {r.get("AuthorizerId") for r in self._routes().values()} - {None, ""}
            found = []
            for authorizer_id in sorted(named):
                with contextlib.suppress(self.apigateway.exceptions.NotFoundException):
                    found.append(
                        self.apigateway.get_authorizer(
                            ApiId=self.api_id, AuthorizerId=authorizer_id
                        )
                    )
            return found

    def _plan_authorizer(self) -> Generator[Change, None, list[str]]:
        """The JWT authorizer's change (``api_auth = "jwt"``); returns the ids of the
        authorizers to delete once no route uses them (all of them for another api_auth)."""
        authorizers = self._authorizers()
        if self.deployment.api_auth != "jwt":
            self.authorizer_id = None
            return [a["AuthorizerId"] for a in authorizers]
        wanted = jwt_authorizer(self.deployment)
        resource = f"http api {self.name} authorizer {self.authorizer_name}"
        config = wanted["JwtConfiguration"]
        detail = f"JWT of {config['Issuer']} for {', '.join(config['Audience'])}"
        current = next((a for a in authorizers if a.get("Name") == self.authorizer_name), None)
        self.authorizer_id = current["AuthorizerId"] if current else None
        if current is None:

            def create() -> None:
                created = self.apigateway.create_authorizer(
                    ApiId=self.api_id, Name=self.authorizer_name, **wanted
                )
                self.authorizer_id = created["AuthorizerId"]

            yield Change(resource, "create", detail, run=create)
        else:
            drift = authorizer_drift(current, wanted)
            if drift:
                authorizer_id = current["AuthorizerId"]
                yield Change(
                    resource,
                    "update",
                    "; ".join(drift),
                    run=lambda: self.apigateway.update_authorizer(
                        ApiId=self.api_id, AuthorizerId=authorizer_id, **wanted
                    ),
                )
        return [a["AuthorizerId"] for a in authorizers if a is not current]

    def _authorization(self) -> dict[str, str]:
        """A route's authorization as CreateRoute and UpdateRoute take it: the type always
        (only an explicit type detaches an authorizer), the authorizer for JWT."""
        settings = {"AuthorizationType": self.authorization_type}
        if self.authorization_type == "JWT":
            settings["AuthorizerId"] = self.authorizer_id or ""
        return settings

    def _authorization_drift(self, route: dict) -> list[str]:
        current = route.get("AuthorizationType") or "NONE"
        drift = []
        if current != self.authorization_type:
            drift.append(f"authorization: {current} -> {self.authorization_type}")
        if self.authorization_type == "JWT" and (
            self.authorizer_id is None or route.get("AuthorizerId") != self.authorizer_id
        ):
            drift.append(f"authorizer: {route.get('AuthorizerId')} -> {self.authorizer_name}")
        return drift

    def _plan_routes(self) -> Iterator[Change]:
        routes = self._routes()
        target = f"integrations/{self.integration_id}" if self.integration_id else None
        authorization = self.authorization_type + (
            f" ({self.authorizer_name})" if self.authorization_type == "JWT" else ""
        )
        if authorization == "NONE":
            authorization = "NONE: anonymous (api_auth = none)"
        for route_key in route_keys():
            resource = f"http api {self.name} route {route_key}"
            current = routes.get(route_key)
            if current is None:
                yield Change(
                    resource,
                    "create",
                    f"-> the ingest integration, {authorization}",
                    run=lambda key=route_key: self.apigateway.create_route(
                        ApiId=self.api_id,
                        RouteKey=key,
                        Target=self._target(),
                        **self._authorization(),
                    ),
                )
                continue
            drift = self._authorization_drift(current)
            if target is None or current.get("Target") != target:
                drift.insert(0, f"target: {current.get('Target')} -> the ingest integration")
            if drift:
                yield Change(
                    resource,
                    "update",
                    "; ".join(drift),
                    run=lambda route_id=current["RouteId"]: self.apigateway.update_route(
                        ApiId=self.api_id,
                        RouteId=route_id,
                        Target=self._target(),
                        **self._authorization(),
                    ),
                )
        for route_key, route in routes.items():
            if route_key not in route_keys():
                yield Change(
                    f"http api {self.name} route {route_key}",
                    "delete",
                    "not an ingest resource",
                    run=lambda route_id=route["RouteId"]: self.apigateway.delete_route(
                        ApiId=self.api_id, RouteId=route_id
                    ),
                )

    def _target(self) -> str:
        return f"integrations/{self.integration_id}"

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

    def _plan_permissions(self) -> Iterator[Change]:
        statements = []
        with contextlib.suppress(self.lambda_.exceptions.ResourceNotFoundException):
            policy = self.lambda_.get_policy(FunctionName=self.function_name, Qualifier=LIVE_ALIAS)
            statements = json.loads(policy["Policy"])["Statement"]
        by_sid = {s.get("Sid"): s for s in statements}
        wanted_sids = set()
        for route_key in route_keys():
            sid = self.statement_id(route_key)
            wanted_sids.add(sid)
            current = by_sid.get(sid)
            if self.api_id is not None and current == invoke_statement(
                sid, self.alias_arn, self.source_arn(route_key, self.api_id)
            ):
                continue
            yield Change(
                f"lambda function {self.function_name}:{LIVE_ALIAS} permission {sid}",
                "set" if current is None else "update",
                f"{API_SERVICE} may invoke it, only from route {route_key} of {self.name} "
                f"on stage {self.stage}",
                run=lambda route_key=route_key, replace=current is not None: self._put_permission(
                    route_key, replace
                ),
            )
        api_statement = re.compile(re.escape(self.name) + r"-[^/]+")
        for sid in by_sid:
            if isinstance(sid, str) and api_statement.fullmatch(sid) and sid not in wanted_sids:
                yield Change(
                    f"lambda function {self.function_name}:{LIVE_ALIAS} permission {sid}",
                    "delete",
                    "no such route",
                    run=lambda sid=sid: self.lambda_.remove_permission(
                        FunctionName=self.function_name, StatementId=sid, Qualifier=LIVE_ALIAS
                    ),
                )

    def _put_permission(self, route_key: str, replace: bool) -> None:
        sid = self.statement_id(route_key)
        if replace:
            self.lambda_.remove_permission(
                FunctionName=self.function_name, StatementId=sid, Qualifier=LIVE_ALIAS
            )
        self.lambda_.add_permission(
            FunctionName=self.function_name,
            Qualifier=LIVE_ALIAS,
            StatementId=sid,
            Action=INVOKE_ACTION,
            Principal=API_SERVICE,
            SourceArn=self.source_arn(route_key, self.api_id),
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
