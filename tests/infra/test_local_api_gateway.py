"""The local API Gateway: the deployed API's routes behind its stage, the payload 2.0
event API Gateway sends, and hostile HTTP through raw sockets against the stack's
endpoint, so that what is sent is exactly what the test writes (no client fixes it up)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from infra.aws.resources.http_api_settings import route_keys
from infra.local.api_gateway import (
    MAX_BODY_BYTES,
    LocalApiGateway,
    http_api_event,
    route_key_for,
)
from infra.local.container_pool import LocalFunction
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.stack import APP_DATABASE
from tests.support import wait_for

ORDER = b'{"customer_id": 7, "amount": "1.00", "currency": "USD"}'


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def exchange(url: str, head: bytes, body: bytes = b"", half_close: bool = False) -> bytes:
    """Send ``head`` (request line and headers, without the blank line) and ``body``;
    return everything the server answers until it closes the connection."""
    with socket.create_connection(address(url), timeout=60) as connection:
        connection.sendall(head + b"\r\n\r\n" + body)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("iso-8859-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def post_head(url: str, resource: str = "/orders", method: str = "POST", **headers: str) -> bytes:
    """A request for ``resource`` of the API at ``url`` (its invoke URL: the stage's path)."""
    path = urlsplit(url).path + resource
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines).encode()


@pytest.mark.parametrize(
    ("length", "status", "message"),
    [
        (
            str(8 * 2**30),
            413,
            f"Content-Length 8589934592 is over the {MAX_BODY_BYTES}-byte payload limit",
        ),
        (
            str(MAX_BODY_BYTES + 1),
            413,
            f"Content-Length {MAX_BODY_BYTES + 1} is over the {MAX_BODY_BYTES}-byte payload limit",
        ),
        ("9" * 5000, 413, f"Content-Length is over the {MAX_BODY_BYTES}-byte payload limit"),
        ("-1", 400, "Content-Length must be a number of bytes, got '-1'"),
        ("abc", 400, "Content-Length must be a number of bytes, got 'abc'"),
        ("1_0", 400, "Content-Length must be a number of bytes, got '1_0'"),
        ("+5", 400, "Content-Length must be a number of bytes, got '+5'"),
        ("0x10", 400, "Content-Length must be a number of bytes, got '0x10'"),
        ("", 400, "Content-Length must be a number of bytes, got ''"),
    ],
    ids=lambda value: value[:20] if isinstance(value, str) else None,
)
def test_a_content_length_it_cannot_honour_is_refused_before_the_body_is_read(
    stack, length, status, message
):
    # No body follows: an answer can only come from the headers alone.
    answer = exchange(stack.api.url, post_head(stack.api.url, Content_Length=length))
    code, headers, body = parse(answer)
    assert (code, json.loads(body)) == (status, {"message": message})
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"


def test_two_different_content_lengths_are_refused(stack):
    head = post_head(stack.api.url, Content_Length="5") + b"\r\nContent-Length: 6"
    code, _, body = parse(exchange(stack.api.url, head, b"123456"))
    assert (code, json.loads(body)) == (
        400,
        {"message": "Content-Length is given twice, with different values"},
    )


def test_a_chunked_body_is_refused_rather_than_dropped(stack):
    head = post_head(stack.api.url, Transfer_Encoding="chunked")
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ORDER), ORDER)
    code, _, body = parse(exchange(stack.api.url, head, chunked))
    assert (code, json.loads(body)) == (
        411,
        {"message": "Transfer-Encoding is not supported here; send a Content-Length"},
    )


def test_a_body_shorter_than_its_content_length_is_a_400(stack):
    head = post_head(stack.api.url, Content_Length="100")
    answer = exchange(stack.api.url, head, ORDER[:10], half_close=True)
    code, _, body = parse(answer)
    assert (code, json.loads(body)) == (
        400,
        {"message": "the body ended after 10 of the 100 bytes its Content-Length announced"},
    )


def test_a_client_that_stops_sending_is_answered_408_when_the_socket_times_out(stack, tmp_path):
    # A gateway of its own, with a short timeout, on the stack's runtime.
    gateway = LocalApiGateway(
        stack.runtime, stack.deployment.resource_name("ingest"), read_timeout_seconds=0.5
    )
    gateway.start()
    try:
        # The connection stays open, with 90 bytes never coming: without a timeout the
        # server's thread (and this test) would wait forever.
        answer = exchange(gateway.url, post_head(gateway.url, Content_Length="100"), ORDER[:10])
    finally:
        gateway.stop()
    code, _, body = parse(answer)
    assert (code, json.loads(body)) == (
        408,
        {
            "message": "the body did not arrive: 10 of the 100 bytes announced, "
            "then 0.5 s of silence"
        },
    )


def test_a_lone_surrogate_field_name_is_answered_in_ascii_json(stack):
    raw = b'{"\\ud800": 1}'
    code, _, body = parse(
        exchange(stack.api.url, post_head(stack.api.url, Content_Length=str(len(raw))), raw)
    )
    body.decode("ascii")
    assert (code, json.loads(body)) == (
        400,
        {"error": "invalid_request", "message": "unknown field '\\ud800'", "field": "\ud800"},
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000, "body is not valid JSON: nested too deeply"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "body is not valid JSON: nested too deeply"),
        (
            b'{"customer_id": 1, "customer_id": 2, "amount": "1", "currency": "USD"}',
            "body has the key 'customer_id' more than once",
        ),
        (
            b'{"customer_id": 8, "amount": "1", "currency": "USD\\n"}',
            "field 'currency' must not contain a control character (U+000A at index 3)",
        ),
        (
            b'{"customer_id": 8, "amount": "1\\n", "currency": "USD"}',
            "field 'amount' must be a decimal number like 12.50 (ASCII digits, an optional "
            "point and digits; no plus sign, spaces or exponent)",
        ),
    ],
    ids=["100000 [", "5000 nested objects", "customer_id twice", "USD\\n", "1\\n"],
)
def test_hostile_bodies_through_the_endpoint_are_400s_not_502s(stack, raw, message):
    code, _, body = parse(
        exchange(stack.api.url, post_head(stack.api.url, Content_Length=str(len(raw))), raw)
    )
    assert code == 400
    assert json.loads(body)["message"] == message


@pytest.mark.parametrize(
    ("raw", "code_point"),
    [
        ('{"email": "a@b.co", "name": "Ann\uffff"}'.encode(), "U+FFFF"),  # raw UTF-8
        (b'{"email": "a@b.co", "name": "Ann\\uffff"}', "U+FFFF"),  # escaped in the JSON
        (b'{"email": "a@b.co", "name": "Ann\\ufffe"}', "U+FFFE"),
        (b'{"email": "a@b.co", "name": "Ann\\udfff"}', "U+DFFF"),
    ],
    ids=["raw U+FFFF", "escaped U+FFFF", "escaped U+FFFE", "escaped lone surrogate"],
)
def test_a_character_sqs_refuses_is_a_400_through_the_endpoint(stack, raw, code_point):
    """What SQS would refuse (every retry a 503 on AWS) is the client's 400 locally too."""
    head = post_head(stack.api.url, "/customers", Content_Length=str(len(raw)))
    code, _, body = parse(exchange(stack.api.url, head, raw))
    assert (code, json.loads(body)) == (
        400,
        {
            "error": "invalid_request",
            "message": f"field 'name' holds {code_point}, which SQS does not accept",
            "field": "name",
        },
    )


def test_an_answer_that_cannot_be_encoded_is_a_502_not_silence():
    class Outcome:
        error = None
        result = {"statusCode": 400, "headers": {}, "body": '{"field": "\ud800"}'}

    assert LocalApiGateway.http_answer(Outcome()) == (
        502,
        {"Content-Type": "application/json"},
        b'{"message": "Internal server error"}',
    )


# -- the deployed API's routes, behind its stage ----------------------------------------------


def post(url: str, body: dict, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def stored_customer(stack, email: str) -> list[tuple]:
    from functions.common.database import connect

    connection = connect(stack.app_settings(APP_DATABASE))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, idempotency_key FROM customers WHERE email = %s", (email,))
            return list(cursor.fetchall())
    finally:
        connection.close()


def test_a_post_behind_the_stage_is_queued_and_stored(migrated_stack):
    stack = migrated_stack
    # The invoke URL carries the stage, as the deployed API's does.
    assert stack.api.url == f"http://127.0.0.1:{stack.api.port}/{stack.deployment.api_stage}"
    assert urlsplit(stack.api.url).path == "/prod"
    email = "staged@example.com"
    status, body = post(
        f"{stack.api.url}/customers", {"email": email, "name": "Staged"}, "staged-1"
    )
    assert (status, body["status"], body["resource"]) == (202, "accepted", "customers")
    assert wait_for(lambda: stored_customer(stack, email)) == [("Staged", body["stored_key"])]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/orders"),  # no stage: the deployed API has no $default stage
        ("POST", "/prod/invoices"),
        ("GET", "/prod/orders"),
        ("POST", "/prod/orders/extra"),
        ("POST", "/production/orders"),
        ("POST", "/prod"),
    ],
)
def test_a_request_outside_the_routes_is_api_gateways_404(stack, method, path):
    head = "\r\n".join([f"{method} {path} HTTP/1.1", "Host: localhost", "Content-Length: 0"])
    code, headers, body = parse(exchange(stack.api.url, head.encode()))
    assert (code, json.loads(body)) == (404, {"message": "Not Found"})
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("stage", "target", "route_key"),
    [
        ("prod", "/prod/orders", "POST /orders"),
        ("prod", "/prod/customers?x=1", "POST /customers"),
        ("prod", "/orders", None),
        ("prod", "/prod/orders/", None),
        ("v1", "/v1/orders", "POST /orders"),
        ("$default", "/orders", "POST /orders"),
        ("$default", "/prod/orders", None),
    ],
)
def test_the_route_is_matched_behind_the_stage(stage, target, route_key):
    assert route_key_for("POST", target, stage) == route_key


def test_the_local_routes_are_the_deployed_apis():
    served = {route_key_for(*key.split(" "), "$default") for key in route_keys()}
    assert served == set(route_keys()) == {"POST /customers", "POST /orders"}


@pytest.fixture(scope="module")
def echo_gateway(stack, tmp_path_factory):
    """A gateway on stage ``prod`` in front of a function that answers with its event."""
    function = LocalFunction(
        name="test-echo-http",
        arn="arn:aws:lambda:us-east-1:000000000000:function:test-echo-http",
        handler="tests.lambda_handlers.echo_http",
    )
    runtime = LambdaRuntime(
        stack.admin_settings(), [function], log_dir=tmp_path_factory.mktemp("echo-logs")
    )
    runtime.start()
    gateway = LocalApiGateway(runtime, function.name, "prod")
    gateway.start()
    yield gateway
    gateway.stop()
    runtime.stop()


def test_the_event_is_the_payload_2_0_api_gateway_sends(echo_gateway):
    head = "\r\n".join(
        [
            "POST /prod/orders?b=2&a=1&a=3 HTTP/1.1",
            "Host: localhost",
            "Content-Type: application/json",
            "Idempotency-Key: k-7",
            "X-Seen: one",
            "X-Seen: two",
            "Cookie: session=s1; theme=dark",
            f"Content-Length: {len(ORDER)}",
        ]
    )
    code, _, body = parse(exchange(echo_gateway.url, head.encode(), ORDER))
    assert code == 200
    event = json.loads(body)
    context = event["requestContext"]
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == (
        "2.0",
        "POST /orders",
        "/prod/orders",
        "b=2&a=1&a=3",
    )
    assert (context["stage"], context["routeKey"], context["http"]["method"]) == (
        "prod",
        "POST /orders",
        "POST",
    )
    assert context["http"]["path"] == "/prod/orders"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert event["queryStringParameters"] == {"a": "1,3", "b": "2"}
    assert event["cookies"] == ["session=s1", "theme=dark"]
    assert event["headers"]["idempotency-key"] == "k-7"
    assert event["headers"]["x-seen"] == "one,two"  # repeated headers comma-joined
    assert "cookie" not in event["headers"]
    assert (event["body"], event["isBase64Encoded"]) == (ORDER.decode(), False)
    assert context["requestId"] and context["timeEpoch"] > 0


def test_a_body_that_is_not_utf8_is_base64_encoded():
    event = http_api_event(
        "POST", "/prod/orders", [("Host", "h")], b"\xff\x00", route_key="POST /orders", stage="prod"
    )
    assert (event["body"], event["isBase64Encoded"]) == ("/wA=", True)
    bare = http_api_event("POST", "/prod/orders", [], b"", route_key="POST /orders", stage="prod")
    assert "body" not in bare and "queryStringParameters" not in bare and "cookies" not in bare


def test_another_named_stage_serves_the_same_routes(migrated_stack):
    """The stack's ingest function behind a gateway on a stage of its own (``v2``): the
    order is stored as posted, under its key."""
    stack = migrated_stack
    gateway = LocalApiGateway(
        stack.runtime,
        stack.deployment.resource_name("ingest"),
        "v2",
        auth=stack.api.auth,
        principal=stack.api.principal,
    )
    gateway.start()
    try:
        assert gateway.url == f"http://127.0.0.1:{gateway.port}/v2"
        order = {"customer_id": 4242, "amount": "3.50", "currency": "EUR"}
        status, body = post(f"{gateway.url}/orders", order, "staged-order-v2")
        unstaged = post(f"http://127.0.0.1:{gateway.port}/orders", order, "unstaged")
    finally:
        gateway.stop()
    assert (status, body["resource"]) == (202, "orders")
    assert unstaged == (404, {"message": "Not Found"})
    stored = wait_for(lambda: stored_order(stack, body["stored_key"]))
    assert stored == [(4242, "3.50", "EUR")]


def stored_order(stack, key: str) -> list[tuple]:
    from functions.common.database import connect

    connection = connect(stack.app_settings(APP_DATABASE))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT customer_id, CAST(amount AS CHAR), currency FROM orders "
                "WHERE idempotency_key = %s",
                (key,),
            )
            return list(cursor.fetchall())
    finally:
        connection.close()


# -- the caller, as API Gateway's authorizer fills it -------------------------------------


def echoed_event(gateway, **headers) -> tuple[int, dict]:
    head = post_head(gateway.url, **headers, Content_Length=str(len(ORDER)))
    code, _, body = parse(exchange(gateway.url, head, ORDER))
    return code, json.loads(body)


def test_the_stacks_api_fills_in_the_caller_its_credentials_would_sign_as(stack):
    import boto3

    assert (stack.deployment.api_auth, stack.api.auth) == ("iam", "iam")
    assert stack.api.principal == boto3.client("sts").get_caller_identity()["Arn"]
    assert stack.api.principal.startswith("arn:aws:")


@pytest.mark.parametrize(
    ("auth", "principal", "authorizer"),
    [
        (
            "iam",
            "arn:aws:iam::123456789012:user/ann",
            {
                "iam": {
                    "accessKey": "",
                    "accountId": "123456789012",
                    "callerId": "",
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": "arn:aws:iam::123456789012:user/ann",
                    "userId": "",
                }
            },
        ),
        ("jwt", None, {"jwt": {"claims": {"sub": "local"}, "scopes": None}}),
        ("jwt", "user-7", {"jwt": {"claims": {"sub": "user-7"}, "scopes": None}}),
        ("none", "ignored", None),
    ],
)
def test_the_event_carries_the_fixed_caller(echo_gateway, auth, principal, authorizer):
    gateway = LocalApiGateway(
        echo_gateway.runtime, echo_gateway.function_name, "prod", auth=auth, principal=principal
    )
    gateway.start()
    try:
        code, event = echoed_event(gateway)
    finally:
        gateway.stop()
    assert code == 200
    assert event["requestContext"].get("authorizer") == authorizer


@pytest.mark.parametrize(
    ("auth", "refusal"), [("iam", (403, "Forbidden")), ("jwt", (401, "Unauthorized"))]
)
def test_with_a_principal_header_each_request_is_its_caller_and_one_without_is_refused(
    echo_gateway, auth, refusal
):
    gateway = LocalApiGateway(
        echo_gateway.runtime,
        echo_gateway.function_name,
        "prod",
        auth=auth,
        principal_header="X-Local-Principal",
    )
    gateway.start()
    try:
        answers = [echoed_event(gateway, X_Local_Principal=who) for who in ("ann", "bob")]
        refused = echoed_event(gateway)
    finally:
        gateway.stop()
    place = {"iam": ("iam", "userArn"), "jwt": ("jwt", "claims", "sub")}[auth]
    for (code, event), who in zip(answers, ("ann", "bob"), strict=True):
        found = event["requestContext"]["authorizer"]
        for key in place:
            found = found[key]
        assert (code, found) == (200, who)
        assert "x-local-principal" not in event["headers"]  # the gateway's, not the client's
    assert refused == (refusal[0], {"message": refusal[1]})


def test_an_iam_gateway_needs_a_principal_or_a_header(echo_gateway):
    with pytest.raises(ValueError, match="an iam gateway needs a principal"):
        LocalApiGateway(echo_gateway.runtime, echo_gateway.function_name, auth="iam")
