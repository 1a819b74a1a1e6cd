"""Which database errors mean "write again later" and which mean "bad data": the errors
are the real pymysql objects the test session's MariaDB server (with the Aurora emulation)
raises, not hand-made ones."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait

import pymysql
import pytest

from functions.common.database import is_retryable_later
from infra.local import emulation
from infra.local.db_server import free_port

ACCESS_DENIED_INVOKE_LAMBDA = (
    "Access denied; you need (at least one of) the Invoke Lambda privilege(s) for this operation"
)


@pytest.fixture
def server(stack, database, admin, account_id, sync_timeout):
    """A table ``t``, a function ``f``, and a way to connect as a user of one's own."""
    with database.connect().cursor() as cursor:
        cursor.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5) NOT NULL)")
        cursor.execute("CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1")
    users = []

    def user(name, *grants, password="pw"):
        with admin.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{name}'@'%'")
            cursor.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY 'pw'")
            for grant in grants:
                cursor.execute(grant.format(db=database.name, user=f"'{name}'@'%'"))
        users.append(name)
        return pymysql.connect(
            host="127.0.0.1",
            port=stack.db.port,
            user=name,
            password=password,
            database=database.name,
            autocommit=True,
        )

    yield {
        "app": database.connect(),
        "connect": database.connect,
        "user": user,
        "arn": f"arn:aws:lambda:us-east-1:{account_id}:function:",
        "admin": admin,
        "sync_timeout": sync_timeout,
    }
    with admin.cursor() as cursor:
        for name in users:
            cursor.execute(f"DROP USER IF EXISTS '{name}'@'%'")


def raised(action) -> pymysql.err.MySQLError:
    with pytest.raises(pymysql.err.MySQLError) as caught:
        action()
    return caught.value


def run(connection, sql, *args):
    with connection.cursor() as cursor:
        cursor.execute(sql, args)


def function_not_found(s):
    return run(s["app"], "SELECT lambda_async(%s, '{}')", s["arn"] + "nobody-deployed-this")


def bad_function_arn(s):
    return run(s["app"], "SELECT lambda_async('arn:aws:s3:::a-bucket', '{}')")


def lambda_endpoint_unreachable(s):
    emulation.register_functions(s["admin"], {"test-no-runtime": s["arn"] + "test-no-runtime"})
    s["sync_timeout"](0.2)
    return run(s["app"], "SELECT lambda_sync('test-no-runtime', '{}')")


def definer_without_invoke_lambda(s):
    return run(
        s["user"]("norole", "GRANT ALL ON `{db}`.* TO {user}"), "SELECT lambda_async('x', '{}')"
    )


def insert_command_denied(s):
    return run(
        s["user"]("readonly", "GRANT SELECT ON `{db}`.* TO {user}"), "INSERT INTO t VALUES (1, 'a')"
    )


def column_command_denied(s):
    grant = "GRANT SELECT (id) ON `{db}`.t TO {user}"
    return run(s["user"]("onecolumn", grant), "SELECT v FROM t")


def database_access_denied(s):
    return s["user"]("nodb", "GRANT USAGE ON *.* TO {user}")


def wrong_password(s):
    return s["user"]("rotated", "GRANT ALL ON `{db}`.* TO {user}", password="not-the-password")


def execute_command_denied(s):
    return run(s["user"]("noexec", "GRANT SELECT ON `{db}`.* TO {user}"), "SELECT f()")


def connection_refused(s):
    return pymysql.connect(host="127.0.0.1", port=free_port(), user="x", connect_timeout=2)


def lock_wait_timeout(s):
    run(s["app"], "INSERT INTO t VALUES (5, 'a')")
    holder, waiter = s["connect"](autocommit=False), s["connect"]()
    try:
        run(holder, "SELECT v FROM t WHERE id = 5 FOR UPDATE")
        run(waiter, "SET SESSION innodb_lock_wait_timeout = 1")  # not the default 50 s
        return run(waiter, "UPDATE t SET v = 'b' WHERE id = 5")
    finally:
        holder.rollback()
        holder.close()
        waiter.close()


def deadlock(s):
    """Two transactions, each waiting for a row the other holds: one is rolled back."""
    run(s["app"], "INSERT INTO t VALUES (6, 'a'), (7, 'a')")
    first, second = s["connect"](autocommit=False), s["connect"](autocommit=False)
    run(first, "UPDATE t SET v = 'x' WHERE id = 6")
    run(second, "UPDATE t SET v = 'x' WHERE id = 7")
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(run, first, "UPDATE t SET v = 'y' WHERE id = 7")
        try:
            # Whichever statement closes the cycle, the server rolls one transaction back.
            run(second, "UPDATE t SET v = 'y' WHERE id = 6")  # raises if this is the victim
            return waiting.result()  # ...else the first was, and this raises
        finally:
            second.rollback()
            wait([waiting])
            first.rollback()
            first.close()
            second.close()


def unknown_column(s):
    """The drain's INSERT names a column an older schema lacks (not migrated yet)."""
    return run(s["app"], "INSERT INTO t (id, v, idempotency_body_hash) VALUES (8, 'a', 'h')")


def no_such_table(s):
    """... or a table it lacks (``ingest_conflicts`` before revision 0007)."""
    return run(s["app"], "SELECT 1 FROM ingest_conflicts")


@pytest.mark.parametrize(
    ("make_error", "code", "message"),
    [
        (function_not_found, 1873, "Lambda API returned error: Function not found: arn:aws"),
        (bad_function_arn, 1873, "Lambda API returned error: Invalid function name or ARN"),
        (
            lambda_endpoint_unreachable,
            1873,
            "Lambda API returned error: Network Connection. Unable to connect to endpoint",
        ),
        (definer_without_invoke_lambda, 1227, ACCESS_DENIED_INVOKE_LAMBDA),
        (insert_command_denied, 1142, "INSERT command denied to user 'readonly'@"),
        (column_command_denied, 1143, "SELECT command denied to user 'onecolumn'@"),
        (database_access_denied, 1044, "Access denied for user 'nodb'@'%' to database"),
        (wrong_password, 1045, "Access denied for user 'rotated'@"),
        (execute_command_denied, 1370, "execute command denied to user 'noexec'@"),
        (connection_refused, 2003, "Can't connect to MySQL server on '127.0.0.1'"),
        (lock_wait_timeout, 1205, "Lock wait timeout exceeded"),
        (deadlock, 1213, "Deadlock found when trying to get lock"),
        (unknown_column, 1054, "Unknown column 'idempotency_body_hash'"),
        (no_such_table, 1146, "Table "),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_the_database_or_its_setup_failing_is_retryable_later(server, make_error, code, message):
    error = raised(lambda: make_error(server))
    assert error.args[0] == code
    assert error.args[1].startswith(message), error.args
    assert is_retryable_later(error)


def invalid_request_content(s):
    # The payload a CONCAT-built trigger makes from a value with a quote: the row's fault.
    return run(s["app"], "SELECT lambda_async(%s, %s)", s["arn"] + "x", '{"v": "say "hi""}')


def value_too_long(s):
    run(s["app"], "SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
    return run(s["app"], "INSERT INTO t VALUES (1, 'longer than five')")


def duplicate_key(s):
    run(s["app"], "INSERT INTO t VALUES (2, 'a')")
    return run(s["app"], "INSERT INTO t VALUES (2, 'b')")


def null_in_not_null_column(s):
    return run(s["app"], "INSERT INTO t VALUES (3, NULL)")


def not_a_number(s):
    run(s["app"], "SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
    return run(s["app"], "INSERT INTO t VALUES ('four', 'a')")


@pytest.mark.parametrize(
    ("make_error", "code", "message"),
    [
        (invalid_request_content, 1873, "Lambda API returned error: Invalid Request Content."),
        (value_too_long, 1406, "Data too long for column 'v'"),
        (duplicate_key, 1062, "Duplicate entry '2'"),
        (null_in_not_null_column, 1048, "Column 'v' cannot be null"),
        (not_a_number, 1366, "Incorrect integer value: 'four'"),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_bad_data_is_not_retryable_later(server, make_error, code, message):
    error = raised(lambda: make_error(server))
    assert error.args[0] == code
    assert error.args[1].startswith(message), error.args
    assert not is_retryable_later(error)


def test_errors_that_are_not_from_the_database_are_not_retryable_later():
    assert not is_retryable_later(ValueError("field 'amount' must be a decimal"))
    assert not is_retryable_later(KeyError("resource"))
