"""The emulated lambda_async / lambda_sync behave as Aurora's do (real MariaDB)."""

import json

import pymysql
import pytest

from infra.local import emulation
from tests.support import invocation_rows, settled_invocations

ACCESS_DENIED = (
    "Access denied; you need (at least one of) the Invoke Lambda privilege(s) for this operation"
)


def make_table(connection, name="t"):
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT)")


def create_trigger(connection, arn, payload_sql="JSON_OBJECT('id', NEW.id, 'v', NEW.v)"):
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER t_ai AFTER INSERT ON t FOR EACH ROW "
            f"SELECT lambda_async('{arn}', {payload_sql}) INTO @r"
        )


def create_user(admin, database, name, role=None, default=False):
    with admin.cursor() as cursor:
        cursor.execute(f"DROP USER IF EXISTS '{name}'@'%'")
        cursor.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY 'pw-{name}'")
        cursor.execute(f"GRANT ALL ON `{database.name}`.* TO '{name}'@'%'")
        if role:
            cursor.execute(f"GRANT AWS_LAMBDA_ACCESS TO '{name}'@'%'")
        if default:
            cursor.execute(f"SET DEFAULT ROLE AWS_LAMBDA_ACCESS FOR '{name}'@'%'")


def connect_as(stack, database, name):
    return pymysql.connect(
        host="127.0.0.1",
        port=stack.db.port,
        user=name,
        password=f"pw-{name}",
        database=database.name,
        autocommit=True,
        charset="utf8mb4",
    )


def test_call_is_recorded_even_when_the_transaction_rolls_back(database, admin, test_functions):
    arn = test_functions.arns["test-echo"]
    connection = database.connect()
    make_table(connection)
    create_trigger(connection, arn)
    connection.begin()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO t (v) VALUES ('never committed')")
    connection.rollback()

    rows = settled_invocations(admin, database.name, 1)
    assert [json.loads(r["payload"]) for r in rows] == [{"id": 1, "v": "never committed"}]
    assert rows[0]["function_arn"] == arn
    assert rows[0]["caller"] == "app@%"
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM t")
        assert cursor.fetchone()[0] == 0


def test_invalid_json_fails_like_aurora_and_records_nothing(database, admin, test_functions):
    connection = database.connect()
    with pytest.raises(pymysql.err.OperationalError) as raised, connection.cursor() as cursor:
        cursor.execute(
            "SELECT lambda_async(%s, %s)", (test_functions.arns["test-echo"], "{'a': 1}")
        )
    assert raised.value.args == (1873, "Lambda API returned error: Invalid Request Content.")
    assert invocation_rows(admin, database.name) == []


def test_concat_payload_from_awss_example_breaks_on_a_quote(database, test_functions):
    connection = database.connect()
    make_table(connection)
    create_trigger(
        connection,
        test_functions.arns["test-echo"],
        payload_sql="CONCAT('{\"v\" : \"', NEW.v, '\"}')",
    )
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO t (v) VALUES ('plain')")
        with pytest.raises(pymysql.err.OperationalError, match="Invalid Request Content"):
            cursor.execute("INSERT INTO t (v) VALUES ('say \"hi\"')")
        cursor.execute("SELECT v FROM t")
        assert [v for (v,) in cursor.fetchall()] == ["plain"]


def test_definer_without_the_role_gets_1227_and_the_insert_fails(
    stack, database, admin, test_functions
):
    create_user(admin, database, "norole")
    definer = connect_as(stack, database, "norole")
    make_table(definer)
    create_trigger(definer, test_functions.arns["test-echo"])
    # The app user holds the role, but the trigger runs as its definer, who does not.
    app = database.connect()
    with pytest.raises(pymysql.err.OperationalError) as raised, app.cursor() as cursor:
        cursor.execute("INSERT INTO t (v) VALUES ('x')")
    assert raised.value.args == (1227, ACCESS_DENIED)
    with app.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM t")
        assert cursor.fetchone()[0] == 0
    assert invocation_rows(admin, database.name) == []


def test_role_granted_but_not_default_gets_1227_until_set_role(
    stack, database, admin, test_functions
):
    create_user(admin, database, "notdefault", role=True, default=False)
    session = connect_as(stack, database, "notdefault")
    arn = test_functions.arns["test-echo"]
    with session.cursor() as cursor:
        with pytest.raises(pymysql.err.OperationalError) as raised:
            cursor.execute("SELECT lambda_async(%s, '{}')", (arn,))
        assert raised.value.args[0] == 1227
        cursor.execute("SET ROLE AWS_LAMBDA_ACCESS")
        cursor.execute("SELECT lambda_async(%s, '{}')", (arn,))
    assert len(settled_invocations(admin, database.name, 1)) == 1


# A direct call of the emulation's internals, claiming to come from the app user.
FORGED = (
    "SELECT aurora_emulation.{function}({token}, 'app@%%', 'AWS_LAMBDA_ACCESS', %s, '{{}}', 'x')"
)


@pytest.mark.parametrize(
    "call",
    [
        FORGED.format(function="invoke_async", token="NULL"),
        FORGED.format(function="invoke_async", token="'guess'"),
        FORGED.format(function="invoke_sync", token="NULL"),
    ],
    ids=["async-forged-caller-no-token", "async-forged-caller-guessed-token", "sync-forged-caller"],
)
def test_an_account_without_the_role_cannot_call_the_internals_with_a_forged_caller(
    stack, database, admin, test_functions, call
):
    create_user(admin, database, "forger")
    mallory = connect_as(stack, database, "forger")
    with pytest.raises(pymysql.err.MySQLError) as raised, mallory.cursor() as cursor:
        cursor.execute(call, (test_functions.arns["test-echo"],))
    assert raised.value.args[0] == 1227
    assert "not the emulation's internals" in raised.value.args[1]
    assert invocation_rows(admin, "x") == []


def test_the_old_unchecked_entry_with_a_forged_caller_is_gone(
    stack, database, admin, test_functions
):
    """Before the entry token, this call (any account, caller passed in) was recorded."""
    create_user(admin, database, "forger")
    mallory = connect_as(stack, database, "forger")
    with pytest.raises(pymysql.err.MySQLError) as refused, mallory.cursor() as cursor:
        cursor.execute(
            "SELECT aurora_emulation.invoke_async('app@%%', 'AWS_LAMBDA_ACCESS', %s, '{}', 'x')",
            (test_functions.arns["test-echo"],),
        )
    assert refused.value.args[0] == 1318  # no such entry: incorrect number of arguments
    assert invocation_rows(admin, "x") == []


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT aurora_emulation.checked_function_name("
        "'app@%', 'AWS_LAMBDA_ACCESS', 'a', '{}', 'Event')",
        "CALL aurora_emulation.check_entry_token('guess')",
        "SELECT value FROM aurora_emulation.settings",
        "SHOW CREATE FUNCTION {database}.lambda_async",
    ],
    ids=["checker", "token-check", "settings-table", "entry-point-body"],
)
def test_nothing_else_of_the_emulation_is_reachable_and_the_token_stays_hidden(
    stack, database, admin, statement
):
    create_user(admin, database, "forger")
    mallory = connect_as(stack, database, "forger")
    with mallory.cursor() as cursor:
        try:
            cursor.execute(statement.replace("{database}", database.name))
        except pymysql.err.MySQLError as refused:
            assert refused.args[0] in (1142, 1370), refused  # command denied
            return
        # SHOW CREATE FUNCTION answers, but without the body to a non-definer.
        (row,) = cursor.fetchall()
        assert row[2] is None


def test_an_undeployed_function_or_a_bad_arn_fails_the_statement(database, account_id):
    connection = database.connect()
    with connection.cursor() as cursor:
        with pytest.raises(pymysql.err.OperationalError) as raised:
            cursor.execute(
                "SELECT lambda_async(%s, '{}')",
                (f"arn:aws:lambda:us-east-1:{account_id}:function:nobody-deployed-this",),
            )
        assert raised.value.args[0] == 1873
        assert "Function not found" in raised.value.args[1]
        with pytest.raises(pymysql.err.OperationalError, match="Invalid function name or ARN"):
            cursor.execute("SELECT lambda_async('arn:aws:s3:::a-bucket', '{}')")


def test_lambda_sync_returns_the_result_inside_an_open_transaction(database, test_functions):
    connection = database.connect()
    make_table(connection)
    connection.begin()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM t")  # the transaction now has a snapshot
        cursor.execute(
            "SELECT lambda_sync(%s, %s)", (test_functions.arns["test-echo"], '{"ping": 1}')
        )
        result = json.loads(cursor.fetchone()[0])
    connection.commit()
    assert result == {"echo": {"ping": 1}, "function": "test-echo"}


def test_a_qualified_arn_reaches_the_same_function_async_and_sync(database, admin, test_functions):
    """Triggers call ``<function ARN>:live``; the local runtime runs the function itself."""
    alias = test_functions.arns["test-echo"] + ":live"
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT lambda_async(%s, '{\"a\": 1}')", (alias,))
        cursor.execute("SELECT lambda_sync(%s, '{\"s\": 1}')", (alias,))
        assert json.loads(cursor.fetchone()[0]) == {"echo": {"s": 1}, "function": "test-echo"}
    (call,) = settled_invocations(admin, database.name, 1)
    assert (call["function_arn"], call["status"], call["attempts"]) == (alias, "succeeded", 1)
    assert json.loads(call["response"]) == {"echo": {"a": 1}, "function": "test-echo"}


def test_lambda_sync_returns_the_functions_error_object(database, test_functions):
    with database.connect().cursor() as cursor:
        cursor.execute("SELECT lambda_sync(%s, '{\"n\": 2}')", (test_functions.arns["test-fails"],))
        error = json.loads(cursor.fetchone()[0])
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "boom: {'n': 2}"


def test_lambda_sync_without_a_runtime_fails_like_an_unreachable_endpoint(
    database, admin, account_id, sync_timeout
):
    emulation.register_functions(
        admin, {"test-orphan": f"arn:aws:lambda:us-east-1:{account_id}:function:test-orphan"}
    )
    sync_timeout(0.3)
    with (
        pytest.raises(pymysql.err.OperationalError) as raised,
        database.connect().cursor() as cursor,
    ):
        cursor.execute("SELECT lambda_sync('test-orphan', '{}')")
    assert raised.value.args == (
        1873,
        "Lambda API returned error: Network Connection. Unable to connect to endpoint",
    )


def test_emulation_refuses_a_server_that_is_not_mariadb(monkeypatch, admin):
    monkeypatch.setattr(emulation, "is_aurora", lambda connection: True)
    with pytest.raises(emulation.EmulationError, match="Aurora MySQL"):
        emulation.install(admin, [])
