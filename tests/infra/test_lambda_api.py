"""The local Invoke API: a plain boto3 Lambda client, pointed at it, invokes the local
runtime's functions as it would invoke Lambda's."""

import json

import boto3
import pytest
from botocore.config import Config

from infra.local.container_pool import LocalFunction
from infra.local.lambda_api import LocalLambdaApi, function_name_of, split_identifier
from infra.local.lambda_runtime import LambdaRuntime
from tests.support import wait_for

ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


@pytest.fixture(scope="module")
def lambda_client(stack, tmp_path_factory):
    functions = [
        LocalFunction(name=name, arn=ARN.format(name), handler=handler)
        for name, handler in (
            ("api-echo", "tests.lambda_handlers.echo"),
            ("api-fails", "tests.lambda_handlers.always_fails"),
        )
    ]
    # Not started: no polling of the emulation, only invocations through the API.
    runtime = LambdaRuntime(
        stack.admin_settings(), functions, log_dir=tmp_path_factory.mktemp("api-logs")
    )
    api = LocalLambdaApi()
    api.start()
    api.attach(runtime)
    client = boto3.client(
        "lambda", endpoint_url=api.url, config=Config(retries={"max_attempts": 0})
    )
    yield client, runtime
    api.stop()
    runtime.stop()


@pytest.mark.parametrize(
    "identifier",
    [
        "api-echo",
        ARN.format("api-echo"),
        ARN.format("api-echo") + ":$LATEST",
        "api-echo:$LATEST",
        # The alias every caller uses, and a version: the same code runs locally.
        ARN.format("api-echo") + ":live",
        "api-echo:live",
        "api-echo:3",
    ],
)
def test_request_response_returns_the_handlers_result(lambda_client, identifier):
    client, _ = lambda_client
    response = client.invoke(
        FunctionName=identifier, Payload=json.dumps({"events": [{"a": "é"}]}).encode()
    )
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {
        "echo": {"events": [{"a": "é"}]},
        "function": "api-echo",
    }


def test_a_handler_error_is_an_unhandled_function_error(lambda_client):
    client, _ = lambda_client
    response = client.invoke(FunctionName="api-fails", Payload=b'{"x": 1}')
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "boom: {'x': 1}"


def test_an_unknown_function_is_resource_not_found(lambda_client):
    client, _ = lambda_client
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="nowhere"):
        client.invoke(FunctionName=ARN.format("nowhere"), Payload=b"{}")


def test_the_qualifier_parameter_runs_the_alias_and_an_unknown_alias_is_not_found(lambda_client):
    client, runtime = lambda_client
    response = client.invoke(FunctionName="api-echo", Qualifier="live", Payload=b'{"q": 1}')
    assert json.loads(response["Payload"].read()) == {"echo": {"q": 1}, "function": "api-echo"}
    # An alias that does not exist on AWS does not run here either.
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="api-echo:staging"):
        client.invoke(FunctionName="api-echo:staging", Payload=b"{}")
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="api-echo:staging"):
        client.invoke(FunctionName="api-echo", Qualifier="staging", Payload=b"{}")
    # The runtime itself takes the same forms.
    outcome = runtime.invoke(ARN.format("api-echo") + ":live", {"r": 2})
    assert outcome.result == {"echo": {"r": 2}, "function": "api-echo"}
    with pytest.raises(KeyError, match="api-echo:staging"):
        runtime.invoke("api-echo:staging", {})


def test_event_and_dry_run(lambda_client):
    client, runtime = lambda_client
    before = runtime.invocation_counts["api-echo"]
    assert client.invoke(FunctionName="api-echo", InvocationType="DryRun")["StatusCode"] == 204
    assert client.invoke(FunctionName="api-echo", InvocationType="Event")["StatusCode"] == 202
    wait_for(lambda: runtime.invocation_counts["api-echo"] == before + 1)


def test_function_names_in_every_form():
    assert function_name_of("f") == "f"
    assert function_name_of("f:prod") == "f"
    assert function_name_of("123456789012:function:f") == "f"
    assert function_name_of("123456789012:function:f:7") == "f"
    assert function_name_of(ARN.format("f")) == "f"
    assert function_name_of(ARN.format("f") + ":prod") == "f"
    assert split_identifier(ARN.format("f") + ":live") == ("f", "live")
    assert split_identifier("123456789012:function:f:7") == ("f", "7")
    assert split_identifier("f") == ("f", None)
