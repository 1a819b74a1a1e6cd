"""The HTTP API's routes and who may call them: one route per ingest resource with the
authorization ``api_auth`` names (the JWT authorizer when it is ``jwt``), and per route the
statement in the ingest alias's resource policy letting API Gateway invoke it from that
route only. A part of :class:`infra.aws.resources.http_api.HttpApi` (its mixin): the API
itself, its integration and stage are planned there, and set the ids read here
(``api_id``, ``integration_id``)."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Generator, Iterator

from infra.aws.changes import Change, UnsupportedOperation, call_unless_unsupported
from infra.aws.resources.http_api_settings import (
    API_AUTH_TYPES,
    API_SERVICE,
    INVOKE_ACTION,
    authorizer_drift,
    invoke_statement,
    jwt_authorizer,
    route_keys,
)
from infra.catalog import LIVE_ALIAS


class HttpApiRoutes:
    """Routes, authorizer and invoke permissions of :class:`HttpApi` (which provides
    ``apigateway``, ``lambda_``, ``deployment``, ``name``, ``stage``, ``api_id``,
    ``integration_id``, ``authorizer_id``, ``function_name``, ``alias_arn`` and
    ``execute_api_arn``)."""

    @property
    def authorizer_name(self) -> str:
        """The JWT authorizer's name (``api_auth = "jwt"``): ``<prefix>-api-jwt``."""
        return f"{self.name}-jwt"

    @property
    def authorization_type(self) -> str:
        """The routes' ``AuthorizationType``: ``AWS_IAM``, ``JWT`` or ``NONE``."""
        return API_AUTH_TYPES[self.deployment.api_auth]

    def statement_id(self, route_key: str) -> str:
        """The alias policy's statement for a route: ``<prefix>-api-<resource>``."""
        return f"{self.name}-{route_key.split('/', 1)[1]}"

    def source_arn(self, route_key: str, api_id: str) -> str:
        """Only this route of this API, on its stage: ``<api-id>/<stage>/POST/orders``."""
        method, path = route_key.split(" ", 1)
        return self.execute_api_arn(f"{api_id}/{self.stage}/{method}{path}")

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
