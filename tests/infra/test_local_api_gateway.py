"""The local API Gateway under hostile HTTP: raw sockets against the stack's endpoint, so
that what is sent is exactly what the test writes (no client fixes it up)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from infra.local.api_gateway import MAX_BODY_BYTES, LocalApiGateway

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


def post_head(path: str = "/orders", **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", "Content-Type: application/json"]
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
    answer = exchange(stack.api.url, post_head(Content_Length=length))
    code, headers, body = parse(answer)
    assert (code, json.loads(body)) == (status, {"message": message})
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"


def test_two_different_content_lengths_are_refused(stack):
    head = post_head(Content_Length="5") + b"\r\nContent-Length: 6"
    code, _, body = parse(exchange(stack.api.url, head, b"123456"))
    assert (code, json.loads(body)) == (
        400,
        {"message": "Content-Length is given twice, with different values"},
    )


def test_a_chunked_body_is_refused_rather_than_dropped(stack):
    head = post_head(Transfer_Encoding="chunked")
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ORDER), ORDER)
    code, _, body = parse(exchange(stack.api.url, head, chunked))
    assert (code, json.loads(body)) == (
        411,
        {"message": "Transfer-Encoding is not supported here; send a Content-Length"},
    )


def test_a_body_shorter_than_its_content_length_is_a_400(stack):
    head = post_head(Content_Length="100")
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
        answer = exchange(gateway.url, post_head(Content_Length="100"), ORDER[:10])
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
    code, _, body = parse(exchange(stack.api.url, post_head(Content_Length=str(len(raw))), raw))
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
    code, _, body = parse(exchange(stack.api.url, post_head(Content_Length=str(len(raw))), raw))
    assert code == 400
    assert json.loads(body)["message"] == message


def test_an_answer_that_cannot_be_encoded_is_a_502_not_silence():
    class Outcome:
        error = None
        result = {"statusCode": 400, "headers": {}, "body": '{"field": "\ud800"}'}

    assert LocalApiGateway.http_answer(Outcome()) == (
        502,
        {"Content-Type": "application/json"},
        b'{"message": "Internal server error"}',
    )
