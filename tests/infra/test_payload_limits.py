"""Lambda's payload limits, locally: the emulated lambda_async / lambda_sync fail the
statement as Aurora does when Lambda refuses an oversized request (real MariaDB), and the
local Invoke API answers a boto3 client as Lambda does (413
RequestEntityTooLargeException). Just under each limit, the call goes through."""

import json

import pymysql
import pytest
from botocore.exceptions import ClientError

from functions.common.lambda_limits import EVENT_PAYLOAD_BYTES, REQUEST_RESPONSE_PAYLOAD_BYTES
from infra.local.lambda_api import payload_too_large
from tests.infra.test_lambda_api import lambda_client  # noqa: F401  the module's runtime + API
from tests.support import invocation_rows, settled_invocations, wait_for

AURORA_REFUSAL = "Lambda API returned error: Request Entity Too Large. "


def payload_of(size: int, filler: str = "a") -> str:
    """A JSON document of exactly ``size`` bytes in UTF-8: ``{"v":"<filler>..."}``
    (``filler`` one character, 1 or 2 bytes)."""
    width = len(filler.encode("utf-8"))
    count, remainder = divmod(size - len('{"v":""}'), width)
    text = '{"v":"' + filler * count + "a" * remainder + '"}'
    assert len(text.encode("utf-8")) == size
    return text


@pytest.fixture(scope="module")
def packet_fits(stack):
    """The test server takes a statement carrying the largest payload here."""
    connection = stack.db.connect_root()
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@max_allowed_packet")
        assert cursor.fetchone()[0] > 2 * REQUEST_RESPONSE_PAYLOAD_BYTES
    connection.close()


def test_lambda_async_over_the_event_limit_fails_and_records_nothing(
    database, admin, test_functions, packet_fits
):
    # Counted in bytes: half as many characters, each of two bytes in UTF-8.
    payload = payload_of(EVENT_PAYLOAD_BYTES + 2, "é")
    assert len(payload) < EVENT_PAYLOAD_BYTES
    with pytest.raises(pymysql.err.OperationalError) as raised, database.connect().cursor() as c:
        c.execute("SELECT lambda_async(%s, %s)", (test_functions.arns["test-echo"], payload))
    assert raised.value.args == (
        1873,
        AURORA_REFUSAL + payload_too_large("Event", EVENT_PAYLOAD_BYTES + 2),
    )
    assert raised.value.args[1].endswith(
        f"{EVENT_PAYLOAD_BYTES + 2} byte payload is too large for the Event invocation type "
        "(limit 1048576 bytes)"
    )
    assert invocation_rows(admin, database.name) == []


def test_lambda_async_just_under_the_event_limit_is_sent(
    database, admin, test_functions, packet_fits
):
    payload = payload_of(EVENT_PAYLOAD_BYTES - 1)
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT lambda_async(%s, %s)", (test_functions.arns["test-echo"], payload))
    (call,) = settled_invocations(admin, database.name, 1)
    assert call["status"] == "succeeded"
    assert len(call["payload"].encode("utf-8")) == EVENT_PAYLOAD_BYTES - 1
    assert json.loads(call["response"])["echo"] == json.loads(payload)


def test_lambda_sync_over_the_request_response_limit_fails(
    database, admin, test_functions, packet_fits
):
    payload = payload_of(REQUEST_RESPONSE_PAYLOAD_BYTES + 1)
    with pytest.raises(pymysql.err.OperationalError) as raised, database.connect().cursor() as c:
        c.execute("SELECT lambda_sync(%s, %s)", (test_functions.arns["test-echo"], payload))
    assert raised.value.args == (
        1873,
        AURORA_REFUSAL
        + "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
    )
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM aurora_emulation.invocations WHERE database_name = %s",
            (database.name,),
        )
        assert cursor.fetchone()[0] == 0


def test_lambda_sync_takes_what_lambda_async_may_not(database, test_functions, packet_fits):
    """Between the two limits: refused as an Event, answered as a RequestResponse."""
    payload = payload_of(REQUEST_RESPONSE_PAYLOAD_BYTES - 1)
    arn = test_functions.arns["test-echo"]
    with database.connect().cursor() as cursor:
        with pytest.raises(pymysql.err.OperationalError, match="Event invocation type"):
            cursor.execute("SELECT lambda_async(%s, %s)", (arn, payload))
        cursor.execute("SELECT lambda_sync(%s, %s)", (arn, payload))
        assert json.loads(cursor.fetchone()[0])["echo"] == json.loads(payload)


# -- the local Invoke API ---------------------------------------------------------------


def refusal(client, invocation_type: str, body: bytes) -> dict:
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName="api-echo", InvocationType=invocation_type, Payload=body)
    return raised.value.response


@pytest.mark.parametrize(
    ("invocation_type", "size", "message"),
    [
        (
            "Event",
            EVENT_PAYLOAD_BYTES + 1,
            "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)",
        ),
        (
            "RequestResponse",
            REQUEST_RESPONSE_PAYLOAD_BYTES + 1,
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        ),
    ],
)
def test_the_invoke_api_refuses_a_body_over_the_limit_as_lambda_does(
    lambda_client,  # noqa: F811
    invocation_type,
    size,
    message,
):
    client, runtime = lambda_client
    before = runtime.invocation_counts["api-echo"]
    answer = refusal(client, invocation_type, payload_of(size).encode())
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert answer["Error"] == {"Code": "RequestEntityTooLargeException", "Message": message}
    assert runtime.invocation_counts["api-echo"] == before


def test_the_invoke_api_takes_a_body_just_under_each_limit(lambda_client):  # noqa: F811
    client, runtime = lambda_client
    before = runtime.invocation_counts["api-echo"]
    event = payload_of(EVENT_PAYLOAD_BYTES - 1).encode()
    answer = client.invoke(FunctionName="api-echo", InvocationType="Event", Payload=event)
    assert answer["StatusCode"] == 202
    wait_for(lambda: runtime.invocation_counts["api-echo"] == before + 1)
    request = payload_of(REQUEST_RESPONSE_PAYLOAD_BYTES - 1).encode()
    response = client.invoke(FunctionName="api-echo", Payload=request)
    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read())["echo"] == json.loads(request)
    # Between the two limits: refused as an Event only.
    answer = refusal(client, "Event", request)
    assert answer["Error"]["Code"] == "RequestEntityTooLargeException"
