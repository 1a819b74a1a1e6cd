"""UPDATE and DELETE events (issue 19), from triggers installed by the operations, on the
real server: their images for every column type and the INSERT tests' hard values, NULL
before and after, conditions (when, columns_changed, no-op updates), primary-key changes,
and both deliveries."""

import json

import pytest

from functions.common.events import parse_row_event
from functions.common.ordering_key import ordering_key
from migrations.lambda_trigger import LambdaTrigger
from migrations.row_event_sql import TriggerDefinitionError
from tests.migrations.test_row_event_payload import COLUMNS, HARD_ROWS, KINDS_TABLE, expected
from tests.migrations.test_trigger_reader import COLUMN_DEFINITIONS
from tests.support import payloads, settled_invocations

ALL = ("INSERT", "UPDATE", "DELETE")


def outbox_events(database) -> list[dict]:
    """The outbox's events in order, each with its row's ordering key (hex) as ``_key``."""
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT payload, HEX(ordering_key) FROM aurora_events_outbox ORDER BY sequence"
        )
        return [{**json.loads(payload), "_key": key} for payload, key in cursor.fetchall()]


def clear_outbox(database) -> None:
    with database.connect().cursor() as cursor:
        cursor.execute("DELETE FROM aurora_events_outbox")


def execute(database, statement: str, arguments=None) -> int:
    with database.connect().cursor() as cursor:
        return cursor.execute(statement, arguments)


@pytest.fixture
def kinds(ordered_outbox, run_ops, relay_arn):
    """Table ``kinds`` (the INSERT tests' columns) with an outbox trigger on every operation."""
    execute(ordered_outbox, KINDS_TABLE)
    trigger = LambdaTrigger.declare("kinds", "notify", COLUMNS, delivery="outbox", operations=ALL)
    run_ops(lambda op: op.create_lambda_trigger(trigger))
    return ordered_outbox


def test_update_and_delete_carry_the_hard_values_exactly(kinds):
    """Each hard row is inserted, updated to the next one (the all-NULL row among them:
    NULL before and NULL after), then deleted."""
    rows = [*HARD_ROWS, HARD_ROWS[0]]
    every = {column: None for column in COLUMNS[1:]}
    with kinds.connect().cursor() as cursor:
        cursor.execute("INSERT INTO kinds (id) VALUES (1)")
        previous = expected(1, {})
        wanted = []
        for values in rows:
            values = {**every, **values}
            assignments = ", ".join(f"{column} = %s" for column in values)
            cursor.execute(f"UPDATE kinds SET {assignments} WHERE id = 1", list(values.values()))
            after = expected(1, values)
            changed = [c for c in COLUMNS if previous[c] != after[c]]
            wanted.append(("UPDATE", previous, after, changed))
            previous = after
        cursor.execute("DELETE FROM kinds WHERE id = 1")
    events = outbox_events(kinds)
    assert [e["operation"] for e in events] == ["INSERT", *["UPDATE"] * len(rows), "DELETE"]
    updates = events[1:-1]
    assert [(e["operation"], e["before"], e["after"], e["changed"]) for e in updates] == wanted
    assert events[-1]["before"] == previous and "after" not in events[-1]
    key = ordering_key("kinds", [1]).hex().upper()
    for event in events:
        parsed = parse_row_event({k: v for k, v in event.items() if k != "_key"})
        assert parsed.primary_key == {"id": 1} and parsed.delivery == "outbox"
        assert parsed.version == (1 if parsed.operation == "INSERT" else 2)
        assert event["_key"] == key  # every event of the row under the row's one key


def test_every_column_type_has_the_same_format_in_every_image(ordered_outbox, run_ops, relay_arn):
    """Before and after images are written as INSERT's row (whose formats the INSERT tests
    check value by value), for each column type, NULL included."""
    columns = ", ".join(f"c_{name} {ddl} NULL" for name, ddl in COLUMN_DEFINITIONS.items())
    execute(ordered_outbox, f"CREATE TABLE everything (id BIGINT PRIMARY KEY, {columns})")
    names = ("id", *(f"c_{name}" for name in COLUMN_DEFINITIONS))
    trigger = LambdaTrigger.declare(
        "everything", "notify", names, delivery="outbox", operations=ALL
    )
    run_ops(lambda op: op.create_lambda_trigger(trigger))
    first = {
        "c_tinyint": -1, "c_smallint": 300, "c_mediumint": 70000, "c_int": -5, "c_bigint": 2**40,
        "c_float": 1.5, "c_double": -2.25, "c_year": 2024, "c_char": "abc", "c_varchar": "O'B",
        "c_tinytext": "t", "c_text": "a\nb", "c_mediumtext": "😀", "c_longtext": "\\",
        "c_enum": "a", "c_set": "a,b", "c_json": '{"k": [1, null]}', "c_decimal": "-1.50",
        "c_datetime": "2024-02-29 23:59:59.123456", "c_timestamp": "2024-03-01 00:00:00.5",
        "c_date": "2024-02-29", "c_time": "-838:59:59", "c_bit": 255, "c_binary": b"\x00\x01",
        "c_varbinary": b"\xff", "c_tinyblob": b"x", "c_blob": bytes(range(10)),
        "c_mediumblob": b"", "c_longblob": b"\n", "c_uuid": "123e4567-e89b-12d3-a456-426614174000",
        "c_inet4": "10.0.0.1", "c_inet6": "::1",
    }  # fmt: skip
    assert set(first) == set(names[1:])
    second = {**first, "c_int": 6, "c_varchar": "new", "c_json": "[]", "c_blob": b"\x00"}
    with ordered_outbox.connect().cursor() as cursor:
        for row_id, values in ((1, first), (2, second), (3, {})):
            columns = ", ".join(("id", *values))
            marks = ", ".join(["%s"] * (len(values) + 1))
            cursor.execute(
                f"INSERT INTO everything ({columns}) VALUES ({marks})", [row_id, *values.values()]
            )
        assignments = ", ".join(f"{column} = %s" for column in second)
        cursor.execute(f"UPDATE everything SET {assignments} WHERE id = 1", list(second.values()))
        cursor.execute(f"UPDATE everything SET {assignments} WHERE id = 3", list(second.values()))
        nulls = ", ".join(f"{column} = NULL" for column in second)
        cursor.execute(f"UPDATE everything SET {nulls} WHERE id = 1")
        cursor.execute("DELETE FROM everything WHERE id = 2")
    inserted = {}
    events = outbox_events(ordered_outbox)
    for event in events[:3]:
        inserted[event["primary_key"]["id"]] = event["row"]
    one, two, null = inserted[1], inserted[2], inserted[3]
    assert all(value is None for column, value in null.items() if column != "id")
    as_two = {**two, "id": 1}
    update_one, update_null, to_null, delete = events[3:]
    assert (update_one["before"], update_one["after"]) == (one, as_two)
    assert update_one["changed"] == ["c_int", "c_varchar", "c_json", "c_blob"]
    assert (update_null["before"], update_null["after"]) == (null, {**two, "id": 3})
    assert update_null["changed"] == list(names[1:])  # NULL -> value is a change
    assert (to_null["before"], to_null["after"]) == (as_two, {**null, "id": 1})
    assert to_null["changed"] == list(names[1:])  # value -> NULL too
    assert delete["before"] == two and delete["operation"] == "DELETE"


CONDITIONED = dict(
    delivery="outbox",
    operations=("UPDATE",),
)


@pytest.fixture
def orders(ordered_outbox, relay_arn):
    execute(
        ordered_outbox,
        "CREATE TABLE orders (id INT PRIMARY KEY, status VARCHAR(20) NULL, "
        "amount DECIMAL(10, 2) NULL, note TEXT NULL)",
    )
    execute(
        ordered_outbox,
        "INSERT INTO orders VALUES (1, 'placed', 1.00, NULL), (2, NULL, NULL, NULL)",
    )
    return ordered_outbox


def updates(database, *statements) -> list[tuple]:
    """Run ``statements``; the UPDATE events they wrote, as (id, changed)."""
    clear_outbox(database)
    for statement in statements:
        execute(database, statement)
    return [(e["primary_key"]["id"], e["changed"]) for e in outbox_events(database)]


def test_a_no_op_update_and_changes_to_columns_not_carried_send_nothing(orders, run_ops):
    trigger = LambdaTrigger.declare("orders", "notify", ("id", "status", "amount"), **CONDITIONED)
    run_ops(lambda op: op.create_lambda_trigger(trigger))
    assert updates(orders, "UPDATE orders SET status = status, amount = amount") == []
    assert updates(orders, "UPDATE orders SET note = 'not carried'") == []
    assert updates(orders, "UPDATE orders SET status = NULL WHERE id = 2") == []  # NULL -> NULL
    assert updates(orders, "UPDATE orders SET status = 'x'") == [(1, ["status"]), (2, ["status"])]
    assert updates(orders, "UPDATE orders SET amount = NULL") == [(1, ["amount"])]


def test_columns_changed_fires_exactly_when_one_of_them_changed(orders, run_ops):
    trigger = LambdaTrigger.declare(
        "orders",
        "notify",
        ("id", "status", "amount", "note"),
        columns_changed=("status", "amount"),
        **CONDITIONED,
    )
    run_ops(lambda op: op.create_lambda_trigger(trigger))
    assert updates(orders, "UPDATE orders SET note = 'n'") == []
    assert updates(orders, "UPDATE orders SET status = 'placed', note = 'm' WHERE id = 1") == []
    # NULL transitions: NULL -> value and value -> NULL are changes, NULL -> NULL is not.
    assert updates(orders, "UPDATE orders SET amount = 2 WHERE id = 2") == [(2, ["amount"])]
    assert updates(orders, "UPDATE orders SET status = NULL, note = 'o'") == [
        (1, ["status", "note"])
    ]
    assert updates(orders, "UPDATE orders SET status = NULL") == []


def test_when_fires_exactly_when_true_and_never_fails_the_statement(orders, run_ops):
    trigger = LambdaTrigger.declare(
        "orders", "notify", ("id", "status"), when="NEW.status <> OLD.status", **CONDITIONED
    )
    run_ops(lambda op: op.create_lambda_trigger(trigger))
    assert updates(orders, "UPDATE orders SET status = 'paid' WHERE id = 1") == [(1, ["status"])]
    # NULL <> 'x' is NULL: not true, nothing sent (columns_changed would send it).
    assert updates(orders, "UPDATE orders SET status = 'x' WHERE id = 2") == []
    assert updates(orders, "UPDATE orders SET status = NULL WHERE id = 1") == []
    # A condition that fails when it runs sends the event and the UPDATE goes through.
    failing = LambdaTrigger.declare(
        "orders", "notify", ("id", "status"), name="orders_failing",
        when="(SELECT id FROM orders) > 0", **CONDITIONED,
    )  # fmt: skip
    run_ops(lambda op: op.replace_lambda_trigger(failing, replaces=trigger))
    assert updates(orders, "UPDATE orders SET status = 'y' WHERE id = 1") == [(1, ["status"])]
    with orders.connect().cursor() as cursor:
        cursor.execute("SELECT status FROM orders WHERE id = 1")
        assert cursor.fetchone() == ("y",)


def test_a_delete_condition_reads_the_old_row(orders, run_ops):
    trigger = LambdaTrigger.declare(
        "orders", "notify", ("id", "status"), delivery="outbox", operations=("DELETE",),
        when="OLD.status IS NULL",
    )  # fmt: skip
    run_ops(lambda op: op.create_lambda_trigger(trigger))
    execute(orders, "DELETE FROM orders")
    assert [(e["operation"], e["before"]) for e in outbox_events(orders)] == [
        ("DELETE", {"id": 2, "status": None})
    ]


def test_a_primary_key_change_is_a_delete_then_an_insert_each_under_its_own_key(orders, run_ops):
    trigger = LambdaTrigger.declare(
        "orders", "notify", ("id", "status"), delivery="outbox", operations=("UPDATE",),
        columns_changed=("status",), when="NEW.status <> 'never'",
    )  # fmt: skip
    run_ops(lambda op: op.create_lambda_trigger(trigger))
    execute(orders, "UPDATE orders SET id = 10 WHERE id = 1")  # conditions do not hide a move
    events = outbox_events(orders)
    assert [(e["operation"], e["primary_key"], e["_key"]) for e in events] == [
        ("DELETE", {"id": 1}, ordering_key("orders", [1]).hex().upper()),
        ("INSERT", {"id": 10}, ordering_key("orders", [10]).hex().upper()),
    ]
    assert events[0]["before"] == {"id": 1, "status": "placed"}
    assert events[1]["row"] == {"id": 10, "status": "placed"}
    assert len({e["event_id"] for e in events}) == 2


def test_a_rolled_back_update_sends_nothing_in_outbox_mode(orders, run_ops):
    trigger = LambdaTrigger.declare("orders", "notify", ("id", "status"), **CONDITIONED)
    run_ops(lambda op: op.create_lambda_trigger(trigger))
    connection = orders.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("UPDATE orders SET status = 'rolled back'")
            cursor.execute("SELECT COUNT(*) FROM aurora_events_outbox")
            assert cursor.fetchone() == (2,)  # written in the transaction
            cursor.execute("ROLLBACK")
    finally:
        connection.close()
    assert outbox_events(orders) == []


def test_direct_delivery_sends_update_and_delete_images(database, run_ops, admin):
    execute(database, "CREATE TABLE things (id INT PRIMARY KEY, name TEXT NULL)")
    trigger = LambdaTrigger.declare("things", "notify", ("id", "name"), operations=ALL)
    run_ops(lambda op: op.create_lambda_trigger(trigger))
    with database.connect().cursor() as cursor:
        cursor.execute("INSERT INTO things VALUES (1, 'a')")
        cursor.execute("UPDATE things SET name = 'b'")
        cursor.execute("UPDATE things SET name = 'b'")  # no-op: nothing
        cursor.execute("DELETE FROM things")
    events = payloads(settled_invocations(admin, database.name, 3))
    assert [(e["operation"], e.get("before"), e.get("after"), e.get("row")) for e in events] == [
        ("INSERT", None, None, {"id": 1, "name": "a"}),
        ("UPDATE", {"id": 1, "name": "a"}, {"id": 1, "name": "b"}, None),
        ("DELETE", {"id": 1, "name": "b"}, None, None),
    ]
    assert all(parse_row_event(e).delivery == "direct" for e in events)


def test_a_declaration_whose_second_trigger_fails_leaves_none_of_its_triggers(orders, run_ops):
    """MySQL has no multi-event trigger and DDL is not rolled back: when the UPDATE trigger
    of an INSERT + UPDATE declaration cannot be created (its name is taken), the INSERT
    trigger made just before is dropped again, and someone else's trigger stays."""
    trigger = LambdaTrigger.declare(
        "orders", "notify", ("id", "status"), delivery="outbox", operations=("INSERT", "UPDATE")
    )
    taken = trigger.trigger_names["UPDATE"]
    execute(orders, "CREATE TABLE others (id INT PRIMARY KEY)")
    execute(orders, f"CREATE TRIGGER `{taken}` AFTER UPDATE ON others FOR EACH ROW SET @x = 1")
    with pytest.raises(TriggerDefinitionError, match=taken):
        run_ops(lambda op: op.create_lambda_trigger(trigger))
    with orders.connect().cursor() as cursor:
        cursor.execute(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE()"
        )
        assert cursor.fetchall() == ((taken, "others"),)
    clear_outbox(orders)
    execute(orders, "INSERT INTO orders (id, status) VALUES (3, 'placed')")
    assert outbox_events(orders) == []
