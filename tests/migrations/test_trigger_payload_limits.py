"""A row whose event is over Lambda's asynchronous limit (real MariaDB, the emulated
lambda_async): a `direct` trigger fails the INSERT with the error Aurora returns and the
row is not stored; an `outbox` trigger stores the row and its event whatever the size (the
relay parks an event no invocation can carry)."""

import re

import pymysql
import pytest

from functions.common.lambda_limits import EVENT_PAYLOAD_BYTES, REQUEST_RESPONSE_PAYLOAD_BYTES
from migrations.lambda_trigger import LambdaTrigger
from tests.migrations.test_outbox_trigger import outbox_rows
from tests.support import invocation_rows, payloads, settled_invocations

DIRECT = LambdaTrigger(table="documents", function="notify", columns=("id", "body"))
OUTBOX = LambdaTrigger(
    table="documents",
    function="notify",
    columns=("id", "body"),
    delivery="outbox",
    template_version=3,
)
REFUSED = re.compile(
    r"Lambda API returned error: Request Entity Too Large\. (\d+) byte payload is too large "
    rf"for the Event invocation type \(limit {EVENT_PAYLOAD_BYTES} bytes\)"
)
# What the event adds around the body (ids, time, table...): well under this.
EVENT_OVERHEAD = 1000


@pytest.fixture
def documents(database):
    connection = database.connect()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE documents (id INT AUTO_INCREMENT PRIMARY KEY, body LONGTEXT)")
        cursor.execute("SELECT @@max_allowed_packet")
        # The server takes the statements below whole: the refusal is Lambda's, not its.
        assert cursor.fetchone()[0] > 2 * REQUEST_RESPONSE_PAYLOAD_BYTES
    return database


def stored_ids(database) -> list[int]:
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT id FROM documents ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_a_direct_trigger_fails_the_insert_of_a_row_over_the_event_limit(
    documents, run_ops, monkeypatch, test_functions, admin
):
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_NOTIFY", test_functions.arns["test-echo"])
    run_ops(lambda op: op.create_lambda_trigger(DIRECT))
    connection = documents.connect()
    big = "x" * EVENT_PAYLOAD_BYTES
    with connection.cursor() as cursor, pytest.raises(pymysql.err.OperationalError) as raised:
        cursor.execute("INSERT INTO documents (body) VALUES (%s)", (big,))
    code, message = raised.value.args
    assert code == 1873
    assert int(REFUSED.fullmatch(message)[1]) > EVENT_PAYLOAD_BYTES
    assert stored_ids(documents) == []
    assert invocation_rows(admin, documents.name) == []

    # Just under: stored, and its event sent.
    under = "y" * (EVENT_PAYLOAD_BYTES - EVENT_OVERHEAD)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO documents (body) VALUES (%s)", (under,))
    (stored,) = stored_ids(documents)
    (event,) = payloads(settled_invocations(admin, documents.name, 1))
    assert event["row"] == {"id": stored, "body": under}


def test_in_a_multi_row_insert_the_rows_before_the_big_one_were_already_sent(
    documents, run_ops, monkeypatch, test_functions, admin
):
    """The statement fails whole, so no row is stored; but lambda_async is not undone:
    the small row's event left when its trigger ran (on Aurora as here)."""
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_NOTIFY", test_functions.arns["test-echo"])
    run_ops(lambda op: op.create_lambda_trigger(DIRECT))
    with (
        documents.connect().cursor() as cursor,
        pytest.raises(pymysql.err.OperationalError, match=REFUSED.pattern),
    ):
        cursor.execute(
            "INSERT INTO documents (body) VALUES (%s), (%s)", ("small", "x" * EVENT_PAYLOAD_BYTES)
        )
    assert stored_ids(documents) == []
    (event,) = payloads(settled_invocations(admin, documents.name, 1))
    assert event["row"] == {"id": 1, "body": "small"}


def test_an_outbox_trigger_stores_a_row_over_either_limit(documents, run_ops, relay_arn):
    run_ops(lambda op: op.create_event_outbox())
    run_ops(lambda op: op.create_lambda_trigger(OUTBOX))
    sizes = (EVENT_PAYLOAD_BYTES, REQUEST_RESPONSE_PAYLOAD_BYTES)
    with documents.connect().cursor() as cursor:
        for size in sizes:
            cursor.execute("INSERT INTO documents (body) VALUES (%s)", ("x" * size,))
    assert stored_ids(documents) == [1, 2]
    rows = outbox_rows(documents)
    assert len(rows) == 2
    for row, size in zip(rows, sizes, strict=True):
        assert len(row["payload"].encode("utf-8")) > size
    # The relay parks the second unread (tests/functions/test_relay_edges.py): no
    # invocation can carry it.
