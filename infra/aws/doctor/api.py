"""The ingest path's first link, ``api``: the HTTP API ``<prefix>-api`` exists and carries
the deployment's tags; it has a route per ingest resource, each integrated with the ingest
function's alias; its stage exists; and the alias's resource policy lets API Gateway invoke
it from this API (``AWS:SourceArn``). The other links: :mod:`infra.aws.doctor.path`."""

from __future__ import annotations

from infra.aws.aurora.state import Clients
from infra.aws.doctor.diagnosis import LinkResult, aws_command, broken, compact_json
from infra.aws.doctor.path import PathNames, all_items, check_alias, route_keys
from infra.aws.function_state import invoke_permission, resource_policy_statements
from infra.aws.tags import is_project_resource, project_tags

APIGATEWAY_SERVICE = "apigateway.amazonaws.com"


def integration_function(uri: str) -> str:
    """The function ARN an AWS_PROXY integration invokes: an HTTP API takes the ARN
    itself, or the ``…:lambda:path/2015-03-31/functions/<arn>/invocations`` form."""
    marker = "/functions/"
    if ":apigateway:" in uri and marker in uri:
        return uri.split(marker, 1)[1].removesuffix("/invocations")
    return uri


def check_api(clients: Clients, names: PathNames) -> LinkResult:
    apigateway = clients.get("apigatewayv2")
    ingest = names.caller_arn("ingest")
    apis = [api for api in all_items(apigateway, "get_apis", "Items") if api["Name"] == names.api]
    ours = [api for api in apis if is_project_resource(api.get("Tags") or {}, names.prefix)]
    if not apis:
        return broken(
            "api",
            f"no HTTP API {names.api}: nothing serves {', '.join(route_keys())}",
            names.deploy_apply(),
            "aurora-events",
        )
    if not ours:
        api = apis[0]
        return broken(
            "api",
            f"HTTP API {names.api} ({api['ApiId']}) does not carry this deployment's tags: it "
            "may be someone else's, and deploy will not manage it",
            aws_command(
                "apigatewayv2",
                "tag-resource",
                "--resource-arn",
                f"arn:{names.target.partition}:apigateway:{names.target.region}::/apis/"
                f"{api['ApiId']}",
                "--tags",
                compact_json(project_tags(names.prefix)),
            ),
            "aws",
        )
    api_id = ours[0]["ApiId"]
    where = ["--api-id", api_id]
    integrations = {
        i["IntegrationId"]: i
        for i in all_items(apigateway, "get_integrations", "Items", ApiId=api_id)
    }
    routes = {r["RouteKey"]: r for r in all_items(apigateway, "get_routes", "Items", ApiId=api_id)}
    to_ingest = [
        i
        for i in integrations.values()
        if integration_function(i.get("IntegrationUri", "")) == ingest
    ]
    for key in route_keys():
        route = routes.get(key)
        if route is None:
            if to_ingest:
                fix = aws_command(
                    "apigatewayv2",
                    "create-route",
                    *where,
                    "--route-key",
                    key,
                    "--target",
                    f"integrations/{to_ingest[0]['IntegrationId']}",
                )
                return broken("api", f"HTTP API {names.api} has no route {key}", fix, "aws")
            return broken(
                "api",
                f"HTTP API {names.api} has no route {key}",
                names.deploy_apply(),
                "aurora-events",
            )
        integration = integrations.get(route.get("Target", "").removeprefix("integrations/"))
        if integration is None:
            return broken(
                "api",
                f"route {key} of HTTP API {names.api} has no integration: API Gateway answers 404",
                names.deploy_apply(),
                "aurora-events",
            )
        invoked = integration_function(integration.get("IntegrationUri", ""))
        if invoked != ingest:
            fix = aws_command(
                "apigatewayv2",
                "update-integration",
                *where,
                "--integration-id",
                integration["IntegrationId"],
                "--integration-uri",
                ingest,
            )
            return broken(
                "api",
                f"route {key} of HTTP API {names.api} invokes {invoked or '(nothing)'}, not "
                f"{ingest}",
                fix,
                "aws",
            )
    stage = names.deployment.api_stage
    stages = {s["StageName"] for s in all_items(apigateway, "get_stages", "Items", ApiId=api_id)}
    if stage not in stages:
        fix = aws_command(
            "apigatewayv2", "create-stage", *where, "--stage-name", stage, "--auto-deploy"
        )
        return broken(
            "api",
            f"HTTP API {names.api} has no stage {stage} (it has: "
            f"{', '.join(sorted(stages)) or 'none'}): its invoke URL …/{stage}/… answers 404",
            fix,
            "aws",
        )
    target = check_alias(clients, names, "api", "ingest")
    if isinstance(target, LinkResult):  # the routes' function itself is missing
        return target
    lambda_client = clients.get("lambda")
    statements = resource_policy_statements(
        lambda_client, names.function("ingest"), names.check.alias
    )
    unscoped = []
    for key in route_keys():
        method, path = key.split(" ", 1)
        source = names.execute_api_arn(api_id, f"{stage}/{method}{path}")
        allowed = invoke_permission(statements, APIGATEWAY_SERVICE, source)
        if allowed is None:
            fix = aws_command(
                "lambda",
                "add-permission",
                "--function-name",
                names.function("ingest"),
                *(["--qualifier", names.check.alias] if names.check.alias else []),
                # The statement `deploy apply` writes: one a route, scoped to it.
                "--statement-id",
                f"{names.api}-{path.lstrip('/')}",
                "--action",
                "lambda:InvokeFunction",
                "--principal",
                APIGATEWAY_SERVICE,
                "--source-arn",
                source,
            )
            return broken(
                "api",
                f"the resource policy of {names.caller('ingest')} does not let HTTP API "
                f"{names.api} ({api_id}) invoke it for {key}: API Gateway answers 500",
                fix,
                "aws",
            )
        if allowed == "unscoped":
            unscoped.append(key)
    warning = (
        f"{names.caller('ingest')} lets any API Gateway API invoke it (a statement without "
        "AWS:SourceArn): scope it to this API"
        if unscoped
        else None
    )
    return LinkResult(
        "api",
        f"HTTP API {names.api} ({api_id}): {', '.join(route_keys())} -> "
        f"{names.caller('ingest')}, stage {stage}, invoke permitted",
        warning=warning,
    )
