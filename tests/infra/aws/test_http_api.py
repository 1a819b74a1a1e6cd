"""The HTTP API in front of ingest on moto: what apply creates (API, routes, integration,
stage, log group, the alias's invoke permissions), that a second apply changes nothing,
that a changed setting is one update, and that destroy leaves nothing tagged; the routes'
authorization (``api_auth``: AWS_IAM by default, a JWT authorizer, or anonymous on purpose).

moto lacks UpdateStage: a changed stage is planned as one update, and applying it is
reported as not done (on AWS it is made). moto lacks GetAuthorizers too: the plan then
finds the authorizers its routes name. The alias ``live`` is the function plan's.
"""

import functools
import json
import re
from dataclasses import replace

import boto3
import pytest

from infra.aws import commands
from infra.aws.changes import UnsupportedOperation, apply_changes, call_unless_unsupported
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.resources import order
from infra.aws.resources.context import Context
from infra.aws.resources.http_api import HttpApi
from infra.aws.resources.http_api_settings import ACCESS_LOG_FORMAT, route_keys
from infra.aws.tags import project_tags
from infra.catalog import SettingError
from tests.infra.aws.conftest import unique
from tests.infra.aws.test_event_path import UNVENDORED


def apis_named(name: str) -> list[dict]:
    return [a for a in boto3.client("apigatewayv2").get_apis()["Items"] if a["Name"] == name]


def the_api(prefix: str) -> dict:
    (api,) = apis_named(f"{prefix}-api")
    return api


def with_settings(path: Context, **settings) -> Context:
    """The same deployment with other settings (a re-run of apply with a changed config)."""
    changed = Context(replace(path.deployment, **settings), path.target, options=UNVENDORED)
    changed.secret = path.secret
    return changed


def api_changes(changes) -> list[tuple[str, str]]:
    return [
        (c.action, c.resource)
        for c in changes
        if c.resource.startswith(("http api", "cloudwatch log group"))
        or ("-ingest:live permission" in c.resource)
    ]


def test_apply_from_nothing_creates_the_api_in_front_of_the_ingest_alias(deployed, account_id):
    path = deployed.path
    prefix, region = path.deployment.prefix, path.target.region
    api_name = f"{prefix}-api"
    planned = deployed.first_plan
    assert api_changes(planned) == [
        ("create", f"cloudwatch log group /aws/apigateway/{api_name}"),
        ("create", f"http api {api_name}"),
        ("create", f"http api {api_name} integration"),
        ("create", f"http api {api_name} route POST /customers"),
        ("create", f"http api {api_name} route POST /orders"),
        ("create", f"http api {api_name} stage prod"),
        ("set", f"lambda function {prefix}-ingest:live permission {api_name}-customers"),
        ("set", f"lambda function {prefix}-ingest:live permission {api_name}-orders"),
    ]
    resources = [c.resource for c in planned]
    # After the functions (the permission is on the ingest alias), before the schedules.
    assert resources.index(f"lambda function {prefix}-ingest") < resources.index(
        f"http api {api_name}"
    )
    assert deployed.first_apply.unsupported == []

    api = the_api(prefix)
    api_id = api["ApiId"]
    assert api["ProtocolType"] == "HTTP"
    assert api["Tags"] == project_tags(prefix)
    assert not api.get("CorsConfiguration")  # no origins configured: no CORS

    client = boto3.client("apigatewayv2")
    (integration,) = client.get_integrations(ApiId=api_id)["Items"]
    alias_arn = f"arn:aws:lambda:{region}:{account_id}:function:{prefix}-ingest:live"
    assert (
        integration["IntegrationType"],
        integration["IntegrationUri"],
        integration["PayloadFormatVersion"],
    ) == ("AWS_PROXY", alias_arn, "2.0")
    routes = client.get_routes(ApiId=api_id)["Items"]
    # api_auth's default, iam: only SigV4-signed requests reach the function.
    assert sorted((r["RouteKey"], r["Target"], r["AuthorizationType"]) for r in routes) == [
        ("POST /customers", f"integrations/{integration['IntegrationId']}", "AWS_IAM"),
        ("POST /orders", f"integrations/{integration['IntegrationId']}", "AWS_IAM"),
    ]
    assert not any(r.get("AuthorizerId") for r in routes)

    (stage,) = client.get_stages(ApiId=api_id)["Items"]
    log_group_arn = f"arn:aws:logs:{region}:{account_id}:log-group:/aws/apigateway/{api_name}"
    assert stage["StageName"] == "prod" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50.0
    assert stage["AccessLogSettings"] == {
        "DestinationArn": log_group_arn,
        "Format": ACCESS_LOG_FORMAT,
    }
    log_format = json.loads(stage["AccessLogSettings"]["Format"])
    assert {
        key: log_format[key]
        for key in ("requestId", "ip", "routeKey", "status", "latency", "integrationError")
    } == {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "latency": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
    }

    logs = boto3.client("logs")
    (group,) = logs.describe_log_groups(logGroupNamePrefix=f"/aws/apigateway/{api_name}")[
        "logGroups"
    ]
    assert group["retentionInDays"] == 30
    assert logs.list_tags_for_resource(resourceArn=log_group_arn)["tags"] == project_tags(prefix)

    policy = boto3.client("lambda").get_policy(FunctionName=f"{prefix}-ingest", Qualifier="live")
    statements = {s["Sid"]: s for s in json.loads(policy["Policy"])["Statement"]}
    execute_api = f"arn:aws:execute-api:{region}:{account_id}:{api_id}"
    for resource in ("customers", "orders"):
        assert statements[f"{api_name}-{resource}"] == {
            "Sid": f"{api_name}-{resource}",
            "Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": alias_arn,
            "Condition": {"ArnLike": {"AWS:SourceArn": f"{execute_api}/prod/POST/{resource}"}},
        }

    assert order.plan(path) == []  # a second apply changes nothing
    assert (
        path.resource(HttpApi).invoke_url()
        == f"https://{api_id}.execute-api.{region}.amazonaws.com/prod"
    )


def test_the_routes_are_the_ingest_resources():
    assert route_keys() == ("POST /customers", "POST /orders")


def test_a_changed_throttling_limit_is_one_stage_update(deployed_to_change):
    path = deployed_to_change
    api_name = f"{path.deployment.prefix}-api"
    changed = with_settings(path, api_burst_limit=20)
    drift = order.plan(changed)
    assert [(c.action, c.resource, c.detail) for c in drift] == [
        ("update", f"http api {api_name} stage prod", "ThrottlingBurstLimit: 100 -> 20")
    ]
    # moto has no UpdateStage: the change is reported as not made, not as a failure.
    outcome = apply_changes(drift)
    assert [(c.resource, reason.split(" by ")[0]) for c, reason in outcome.unsupported] == [
        (f"http api {api_name} stage prod", "UpdateStage is not implemented")
    ]


def test_cors_origins_set_changed_and_removed_are_one_change_each(deployed_to_change):
    path = deployed_to_change
    prefix = path.deployment.prefix
    api_name = f"{prefix}-api"

    shop = with_settings(path, api_cors_origins=("https://shop.example",))
    assert [(c.action, c.resource) for c in order.plan(shop)] == [
        ("set", f"http api {api_name} cors")
    ]
    apply_changes(order.plan(shop))
    assert the_api(prefix)["CorsConfiguration"] == {
        "AllowOrigins": ["https://shop.example"],
        "AllowMethods": ["POST"],
        # api_auth iam: a browser sends SigV4's headers too.
        "AllowHeaders": [
            "content-type",
            "idempotency-key",
            "authorization",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-content-sha256",
        ],
        "ExposeHeaders": ["retry-after"],
        "MaxAge": 600,
    }
    assert order.plan(shop) == []

    two = with_settings(path, api_cors_origins=("https://shop.example", "https://admin.example"))
    drift = order.plan(two)
    assert [(c.action, c.resource, c.detail) for c in drift] == [
        (
            "update",
            f"http api {api_name} cors",
            "origins: https://shop.example -> https://shop.example, https://admin.example",
        )
    ]
    apply_changes(drift)
    assert the_api(prefix)["CorsConfiguration"]["AllowOrigins"] == [
        "https://shop.example",
        "https://admin.example",
    ]
    assert order.plan(two) == []

    assert [(c.action, c.resource) for c in order.plan(path)] == [
        ("delete", f"http api {api_name} cors")
    ]
    apply_changes(order.plan(path))
    assert not the_api(prefix).get("CorsConfiguration")
    assert order.plan(path) == []


def test_routes_and_permissions_changed_by_hand_are_put_back(deployed_to_change):
    path = deployed_to_change
    prefix = path.deployment.prefix
    api_name = f"{prefix}-api"
    client = boto3.client("apigatewayv2")
    api_id = the_api(prefix)["ApiId"]
    routes = {r["RouteKey"]: r for r in client.get_routes(ApiId=api_id)["Items"]}
    client.delete_route(ApiId=api_id, RouteId=routes["POST /orders"]["RouteId"])
    client.create_route(
        ApiId=api_id, RouteKey="GET /customers", Target=routes["POST /customers"]["Target"]
    )
    lambda_client = boto3.client("lambda")
    lambda_client.remove_permission(
        FunctionName=f"{prefix}-ingest", StatementId=f"{api_name}-orders", Qualifier="live"
    )

    drift = order.plan(path)
    assert [(c.action, c.resource) for c in drift] == [
        ("create", f"http api {api_name} route POST /orders"),
        ("delete", f"http api {api_name} route GET /customers"),
        ("set", f"lambda function {prefix}-ingest:live permission {api_name}-orders"),
    ]
    apply_changes(drift)
    assert sorted(r["RouteKey"] for r in client.get_routes(ApiId=api_id)["Items"]) == [
        "POST /customers",
        "POST /orders",
    ]
    assert order.plan(path) == []


def test_destroy_removes_the_api_and_its_log_group_and_nothing_untagged(path):
    prefix = path.deployment.prefix
    api_name = f"{prefix}-api"
    apply_changes(order.plan(path))
    planned = [(c.action, c.resource) for c in order.plan_destroy(path)]
    api_id = the_api(prefix)["ApiId"]
    assert [change for change in planned if api_name in change[1]] == [
        ("delete", f"http api {api_name} ({api_id})"),
        ("delete", f"cloudwatch log group /aws/apigateway/{api_name}"),
    ]
    apply_changes(order.plan_destroy(path))
    assert apis_named(api_name) == []
    logs = boto3.client("logs")
    assert (
        logs.describe_log_groups(logGroupNamePrefix=f"/aws/apigateway/{api_name}")["logGroups"]
        == []
    )
    assert order.plan_destroy(path) == []

    # Someone else's API and log group with our names: plan refuses, destroy leaves them.
    client = boto3.client("apigatewayv2")
    foreign = client.create_api(Name=api_name, ProtocolType="HTTP")["ApiId"]
    with pytest.raises(ForeignResourceError, match=f"http api {api_name} .* does not carry"):
        order.plan(path)
    assert order.plan_destroy(path) == []
    client.delete_api(ApiId=foreign)
    # (Another prefix: moto keeps a deleted log group's tags for the next one of its name.)
    other = with_settings(path, prefix=f"{prefix}x")
    logs.create_log_group(logGroupName=f"/aws/apigateway/{prefix}x-api")
    with pytest.raises(ForeignResourceError, match="cloudwatch log group .* does not carry"):
        order.plan(other)
    assert order.plan_destroy(other) == []
    logs.delete_log_group(logGroupName=f"/aws/apigateway/{prefix}x-api")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"api_stage": "pr od"},
            "setting api_stage must be $default or 1 to 128 letters, digits, - or _; not 'pr od'",
        ),
        ({"api_stage": "x" * 129}, "setting api_stage must be"),
        (
            {"api_cors_origins": ("shop.example",)},
            "setting api_cors_origins must list origins like https://shop.example",
        ),
        ({"api_cors_origins": ("https://shop.example/app",)}, "not 'https://shop.example/app'"),
        (
            {"api_auth": "anonymous"},
            "setting api_auth must be iam, jwt or none (an anonymous API, only on purpose); "
            "not 'anonymous'",
        ),
        ({"api_auth": ""}, "setting api_auth must be iam, jwt or none"),
        (
            {"api_auth": "jwt", "api_jwt_audience": ("shop",)},
            "setting api_jwt_issuer must be the token issuer's https:// URL (api_auth is jwt); "
            "not ''",
        ),
        (
            {"api_auth": "jwt", "api_jwt_issuer": "http://id.example", "api_jwt_audience": ("a",)},
            "setting api_jwt_issuer must be",
        ),
        (
            {"api_auth": "jwt", "api_jwt_issuer": "https://id.example"},
            "setting api_jwt_audience must name the audience",
        ),
    ],
)
def test_an_api_setting_aws_would_refuse_is_named(deployed, settings, message):
    with pytest.raises(SettingError, match=re.escape(message)):
        order.plan(with_settings(deployed.path, **settings))


def test_the_default_stage_is_served_at_the_root_of_the_invoke_url(path):
    default = with_settings(path, api_stage="$default")
    apply_changes(order.plan(default))
    api = the_api(path.deployment.prefix)
    assert default.resource(HttpApi).invoke_url() == api["ApiEndpoint"]
    (stage,) = boto3.client("apigatewayv2").get_stages(ApiId=api["ApiId"])["Items"]
    assert stage["StageName"] == "$default"
    assert order.plan(default) == []


def test_a_renamed_stage_replaces_the_old_one_and_its_permissions(path, account_id):
    prefix = path.deployment.prefix
    api_name = f"{prefix}-api"
    apply_changes(order.plan(path))
    renamed = with_settings(path, api_stage="v1")
    assert [(c.action, c.resource) for c in order.plan(renamed)] == [
        ("create", f"http api {api_name} stage v1"),
        ("delete", f"http api {api_name} stage prod"),
        ("update", f"lambda function {prefix}-ingest:live permission {api_name}-customers"),
        ("update", f"lambda function {prefix}-ingest:live permission {api_name}-orders"),
    ]
    apply_changes(order.plan(renamed))
    api_id = the_api(prefix)["ApiId"]
    stages = boto3.client("apigatewayv2").get_stages(ApiId=api_id)["Items"]
    assert [s["StageName"] for s in stages] == ["v1"]
    policy = boto3.client("lambda").get_policy(FunctionName=f"{prefix}-ingest", Qualifier="live")
    sources = sorted(
        s["Condition"]["ArnLike"]["AWS:SourceArn"]
        for s in json.loads(policy["Policy"])["Statement"]
        if s["Sid"].startswith(api_name)
    )
    region = path.target.region
    assert sources == [
        f"arn:aws:execute-api:{region}:{account_id}:{api_id}/v1/POST/customers",
        f"arn:aws:execute-api:{region}:{account_id}:{api_id}/v1/POST/orders",
    ]
    assert order.plan(renamed) == []


def test_deploy_apply_prints_the_invoke_url(path, capsys, monkeypatch):
    # The sources alone in the zip: moto runs no code (and nothing is downloaded).
    monkeypatch.setattr(commands, "Context", functools.partial(Context, options=UNVENDORED))
    monkeypatch.setenv("AURORA_EVENTS_DATABASE_SECRET_ID", path.deployment.database_secret_id)
    monkeypatch.setenv(
        "AURORA_EVENTS_RELAY_DATABASE_SECRET_ID", path.deployment.relay_database_secret_id
    )
    monkeypatch.setenv("AURORA_EVENTS_EMAIL_FROM", path.deployment.email_from)
    prefix = path.deployment.prefix
    from infra.cli import main

    assert main(["deploy", "apply", "--prefix", prefix]) == 0
    out = capsys.readouterr().out.splitlines()
    api = the_api(prefix)
    assert out[-1] == f"invoke URL: {api['ApiEndpoint']}/prod"
    assert api["ApiEndpoint"] == (
        f"https://{api['ApiId']}.execute-api.{path.target.region}.amazonaws.com"
    )
    assert main(["deploy", "apply", "--prefix", prefix]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "no changes: everything is as declared",
        f"invoke URL: {api['ApiEndpoint']}/prod",
    ]


def test_a_missing_json_api_is_unsupported_and_a_real_error_is_raised(stack):
    client = boto3.client("apigatewayv2")
    api_id = client.create_api(Name=unique("t4probe"), ProtocolType="HTTP")["ApiId"]
    client.create_stage(ApiId=api_id, StageName="s")
    try:
        with pytest.raises(UnsupportedOperation, match="UpdateStage is not implemented"):
            call_unless_unsupported(
                client,
                "UpdateStage",
                lambda: client.update_stage(ApiId=api_id, StageName="s", AutoDeploy=True),
            )
        with pytest.raises(client.exceptions.NotFoundException):
            call_unless_unsupported(client, "GetApi", lambda: client.get_api(ApiId="nope"))
    finally:
        client.delete_api(ApiId=api_id)


# -- the routes' authorization (api_auth) ------------------------------------------------

ISSUER = "https://id.shop.example/realms/shop"


def routes_authorization(prefix: str) -> dict[str, tuple[str, str | None]]:
    client = boto3.client("apigatewayv2")
    routes = client.get_routes(ApiId=the_api(prefix)["ApiId"])["Items"]
    return {r["RouteKey"]: (r["AuthorizationType"], r.get("AuthorizerId") or None) for r in routes}


def test_jwt_routes_carry_an_authorizer_of_the_issuer_and_audience_settings(deployed_to_change):
    path = deployed_to_change
    prefix = path.deployment.prefix
    api_name = f"{prefix}-api"
    api_id = the_api(prefix)["ApiId"]
    client = boto3.client("apigatewayv2")
    jwt = with_settings(
        path, api_auth="jwt", api_jwt_issuer=ISSUER, api_jwt_audience=("shop-web", "shop-app")
    )
    planned = order.plan(jwt)
    assert [(c.action, c.resource, c.detail) for c in planned if "http api" in c.resource] == [
        (
            "create",
            f"http api {api_name} authorizer {api_name}-jwt",
            f"JWT of {ISSUER} for shop-web, shop-app",
        ),
        (
            "update",
            f"http api {api_name} route POST /customers",
            f"authorization: AWS_IAM -> JWT; authorizer: None -> {api_name}-jwt",
        ),
        (
            "update",
            f"http api {api_name} route POST /orders",
            f"authorization: AWS_IAM -> JWT; authorizer: None -> {api_name}-jwt",
        ),
    ]
    # The function learns where its caller is (API_AUTH): a new configuration.
    assert any(c.resource == f"lambda function {prefix}-ingest" for c in planned)
    apply_changes(planned)
    authorization = routes_authorization(prefix)
    ((kind, authorizer_id),) = set(authorization.values())
    assert set(authorization) == {"POST /customers", "POST /orders"} and kind == "JWT"
    authorizer = client.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)
    assert (
        authorizer["Name"],
        authorizer["AuthorizerType"],
        authorizer["IdentitySource"],
        authorizer["JwtConfiguration"],
    ) == (
        f"{api_name}-jwt",
        "JWT",
        ["$request.header.Authorization"],
        {"Issuer": ISSUER, "Audience": ["shop-web", "shop-app"]},
    )
    assert order.plan(jwt) == []  # re-apply: no changes

    # Another audience is one update of the authorizer; the routes keep it.
    other = with_settings(jwt, api_jwt_audience=("shop-web",))
    drift = order.plan(other)
    assert [(c.action, c.resource, c.detail) for c in drift] == [
        (
            "update",
            f"http api {api_name} authorizer {api_name}-jwt",
            "audience: shop-web, shop-app -> shop-web",
        )
    ]
    apply_changes(drift)
    assert client.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)["JwtConfiguration"] == {
        "Issuer": ISSUER,
        "Audience": ["shop-web"],
    }
    assert order.plan(other) == []

    # Back to iam: the routes first, then the authorizer they no longer use.
    back = [(c.action, c.resource) for c in order.plan(path) if c.resource.startswith("http api")]
    assert back == [
        ("update", f"http api {api_name} route POST /customers"),
        ("update", f"http api {api_name} route POST /orders"),
        ("delete", f"http api {api_name} authorizer {authorizer_id}"),
    ]
    apply_changes(order.plan(path))
    assert {kind for kind, _ in routes_authorization(prefix).values()} == {"AWS_IAM"}
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)
    assert order.plan(path) == []


def test_an_anonymous_api_only_when_set_on_purpose_and_routes_edited_by_hand_are_put_back(
    deployed_to_change,
):
    path = deployed_to_change
    prefix = path.deployment.prefix
    api_name = f"{prefix}-api"
    anonymous = with_settings(path, api_auth="none")
    planned = [(c.action, c.resource, c.detail) for c in order.plan(anonymous)]
    assert [p for p in planned if p[1].startswith("http api")] == [
        ("update", f"http api {api_name} route POST /customers", "authorization: AWS_IAM -> NONE"),
        ("update", f"http api {api_name} route POST /orders", "authorization: AWS_IAM -> NONE"),
    ]
    apply_changes(order.plan(anonymous))
    assert {kind for kind, _ in routes_authorization(prefix).values()} == {"NONE"}
    assert order.plan(anonymous) == []

    # A route made anonymous by hand under iam is put back.
    apply_changes(order.plan(path))
    client = boto3.client("apigatewayv2")
    api_id = the_api(prefix)["ApiId"]
    orders = next(
        r for r in client.get_routes(ApiId=api_id)["Items"] if r["RouteKey"] == "POST /orders"
    )
    client.update_route(ApiId=api_id, RouteId=orders["RouteId"], AuthorizationType="NONE")
    assert [(c.action, c.resource, c.detail) for c in order.plan(path)] == [
        ("update", f"http api {api_name} route POST /orders", "authorization: NONE -> AWS_IAM")
    ]
    apply_changes(order.plan(path))
    # (Only the type: moto keeps an AuthorizerId the type no longer uses; AWS drops it.)
    assert routes_authorization(prefix)["POST /orders"][0] == "AWS_IAM"
    assert order.plan(path) == []


def test_deploy_plan_refuses_an_unknown_api_auth_in_one_line_naming_it(
    deployed, capsys, monkeypatch
):
    path = deployed.path
    monkeypatch.setenv("AURORA_EVENTS_DATABASE_SECRET_ID", path.deployment.database_secret_id)
    monkeypatch.setenv(
        "AURORA_EVENTS_RELAY_DATABASE_SECRET_ID", path.deployment.relay_database_secret_id
    )
    monkeypatch.setenv("AURORA_EVENTS_API_AUTH", "off")
    from tests.infra.aws.conftest import run_aurora_events

    prefix = path.deployment.prefix
    assert run_aurora_events(f"aurora-events deploy plan --prefix {prefix}") == 2
    assert capsys.readouterr().err == (
        "aurora-events: setting api_auth must be iam, jwt or none (an anonymous API, only on "
        "purpose); not 'off'\n"
    )
