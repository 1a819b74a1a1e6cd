"""A row's ordering key: the SQL expression a trigger will write into the outbox
(``sql/outbox/ordering_key.sql``) and the Python function agree, for the primary-key types
row events carry, composite keys, and strings that could blur the parts' boundaries."""

import json

import pytest

from functions.common.ordering_key import key_text, ordering_key
from migrations.ordering_key import ordering_key_expression
from migrations.row_event_sql import VALUE_FORMATS
from sql import quote_identifier

# (table, its primary-key columns and types, rows)
TABLES = {
    "by_int": (
        (("id", "bigint"),),
        [(1,), (42,), (-7,), (9223372036854775807,)],
    ),
    "by_text": (
        (("code", "varchar(40)"),),
        [("a",), ("1:a",), ("ä€😀",), ('it\'s \\ "x"',), ("",), ("2:xy2:z",)],
    ),
    "by_latin1": (
        (("code", "varchar(20) CHARACTER SET latin1"),),
        [("café",), ("x",)],
    ),
    "by_pair": (
        (("tenant", "int"), ("name", "varchar(20)")),
        [(1, "12"), (11, "2"), (1, "2:1"), (2, "")],
    ),
    "by_time": (
        (("at", "datetime(6)"), ("amount", "decimal(10,2)")),
        [("2026-05-01 10:00:00.250000", "12.50"), ("2026-05-01 10:00:00", "-0.01")],
    ),
    "by_bytes": (
        (("raw", "varbinary(16)"),),
        [(b"\x00\xff:1",), (b"abc",)],
    ),
}


def base_type(declared: str) -> str:
    return declared.split("(")[0].split()[0]


@pytest.fixture
def keyed_tables(database):
    with database.connect().cursor() as cursor:
        for table, (columns, rows) in TABLES.items():
            definition = ", ".join(f"{quote_identifier(c)} {t} NOT NULL" for c, t in columns)
            names = ", ".join(quote_identifier(c) for c, _ in columns)
            cursor.execute(f"CREATE TABLE {table} ({definition}, PRIMARY KEY ({names}))")
            cursor.executemany(
                f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(columns))})", rows
            )
    return database


def test_the_trigger_expression_and_the_python_function_give_the_same_key(keyed_tables):
    seen = set()
    with keyed_tables.connect().cursor() as cursor:
        for table, (columns, rows) in TABLES.items():
            values = [
                VALUE_FORMATS[base_type(t)].format(value=f"t.{quote_identifier(c)}")
                for c, t in columns
            ]
            # The values as the row event carries them, and the key from the expression.
            event_values = "JSON_ARRAY(" + ", ".join(values) + ")"
            cursor.execute(
                f"SELECT {event_values}, {ordering_key_expression(table, values)} FROM {table} t"
            )
            found = cursor.fetchall()
            assert len(found) == len(rows)
            for event_json, key in found:
                event = json.loads(event_json)
                assert key == ordering_key(table, event), (table, event, key_text(table, event))
                assert len(key) == 16
                seen.add(key)
    assert len(seen) == sum(len(rows) for _, rows in TABLES.values())  # all different


def test_the_parts_are_length_prefixed_so_no_two_rows_share_a_text():
    assert key_text("orders", [42]) == "6:orders2:42"
    assert key_text("t", [1, "2"]) != key_text("t", ["12"])
    assert ordering_key("t", [1, "2"]) != ordering_key("t", [12])
    assert ordering_key("t", [12]) == ordering_key("t", ["12"])  # the text, as SQL sees it
    with pytest.raises(TypeError):
        ordering_key("t", [1.5])
    with pytest.raises(TypeError):
        ordering_key("t", [True])
