"""Trigger payloads carry every hard value exactly (real MariaDB, trigger from the operation)."""

import base64
import json
from decimal import Decimal

import pytest

from functions.common.events import parse_row_event
from migrations.lambda_trigger import LambdaTrigger
from migrations.row_event_sql import TriggerDefinitionError, value_expression
from tests.support import payloads, settled_invocations

KINDS_TABLE = """
CREATE TABLE kinds (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  txt MEDIUMTEXT NULL,
  name VARCHAR(255) NULL,
  amount DECIMAL(20, 6) NULL,
  ratio DOUBLE NULL,
  happened DATETIME(6) NULL,
  day DATE NULL,
  raw VARBINARY(300) NULL,
  doc JSON NULL,
  kind ENUM('small', 'large') NULL,
  small TINYINT NULL
) CHARACTER SET utf8mb4
"""
COLUMNS = ("id", "txt", "name", "amount", "ratio", "happened", "day", "raw", "doc", "kind", "small")

HARD_ROWS = [
    {"txt": "single ' double \" backslash \\ end\\", "name": "O'Brien"},
    {"txt": "line1\nline2\r\nline3\ttab", "name": "new\nline"},
    {"txt": "emoji 😀👍🏽 한국어 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u200b", "name": "🙂"},
    {"txt": "control \x01\x1f and NUL \x00 inside", "name": "\\N"},
    {"txt": "x" * 61_440 + "😀", "name": "60 KB"},
    {"txt": "'); DROP TABLE kinds; --", "name": "%s %d {0} ${x} :name"},
    {"txt": None, "name": None, "amount": None, "raw": None, "doc": None},
    {
        "txt": "typed",
        "amount": Decimal("-12345678901234.123456"),
        "ratio": 1.5,
        "happened": "2024-02-29 23:59:59.123456",
        "day": "2024-02-29",
        "raw": bytes(range(256)),
        "doc": '{"nested": [1, "two", null, {"q": "\\""}]}',
        "kind": "large",
        "small": -128,
    },
]


def expected(row_id, values):
    row = dict.fromkeys(COLUMNS[1:])
    row.update(values)
    row["id"] = row_id
    if row["amount"] is not None:
        row["amount"] = str(row["amount"])
    if row["happened"] is not None:
        row["happened"] = row["happened"].replace(" ", "T")
    if row["raw"] is not None:
        row["raw"] = base64.b64encode(row["raw"]).decode()
    if row["doc"] is not None:
        row["doc"] = json.loads(row["doc"])
    return row


@pytest.fixture
def kinds_table(database, run_ops):
    with database.connect().cursor() as cursor:
        cursor.execute(KINDS_TABLE)
    run_ops(
        lambda op: op.create_lambda_trigger(
            LambdaTrigger(table="kinds", function="notify", columns=COLUMNS)
        )
    )
    return database


def test_every_hard_value_arrives_exactly(kinds_table, admin):
    inserted = []
    with kinds_table.connect().cursor() as cursor:
        for values in HARD_ROWS:
            columns = ", ".join(values)
            cursor.execute(
                f"INSERT INTO kinds ({columns}) VALUES ({', '.join(['%s'] * len(values))})",
                list(values.values()),
            )
            inserted.append(expected(cursor.lastrowid, values))

    events = payloads(settled_invocations(admin, kinds_table.name, len(HARD_ROWS)))
    assert [event["row"] for event in events] == inserted
    for event, row in zip(events, inserted, strict=True):
        parsed = parse_row_event(event)  # the handlers' parser accepts what the trigger sends
        assert parsed.primary_key == {"id": row["id"]}
        assert (parsed.table, parsed.database, parsed.operation) == (
            "kinds",
            kinds_table.name,
            "INSERT",
        )
        assert parsed.delivery == "direct"
        assert parsed.occurred_at.endswith("Z") and len(parsed.occurred_at) == 27
    assert len({event["event_id"] for event in events}) == len(events)


def test_a_multi_row_insert_sends_one_event_per_row(kinds_table, admin):
    with kinds_table.connect().cursor() as cursor:
        cursor.execute("INSERT INTO kinds (name) VALUES ('a'), ('b'), ('c')")
    events = payloads(settled_invocations(admin, kinds_table.name, 3))
    assert [event["row"]["name"] for event in events] == ["a", "b", "c"]


def test_unsupported_column_types_are_named():
    with pytest.raises(TriggerDefinitionError, match="'shape' has type 'geometry'"):
        value_expression("shape", "geometry")
