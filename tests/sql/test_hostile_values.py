"""Hostile user, host, table, column and ARN strings, on the real MariaDB server.

Each is either refused with an error naming the problem before anything runs, or, when
it is a legal name, the rendered SQL is executed and does exactly what was meant. Every
executing test runs twice: under the server's default sql_mode, and with the server's
GLOBAL sql_mode including NO_BACKSLASH_ESCAPES, which the pinned session mode (and
quote_string's refusal of backslashes) must make no difference to.
"""

from __future__ import annotations

import base64
import itertools
import json

import pymysql
import pytest

from functions.common.database import SESSION_SQL_MODE, connect
from infra.database import grants as db_grants
from infra.local import emulation
from migrations.function_arns import FunctionArnError, resolve_function_arn
from migrations.row_event_sql import (
    create_trigger_statement,
    payload_expression,
)
from sql import SqlTemplateError, quote_identifier
from tests.migrations.test_upgrade_downgrade import alembic_config
from tests.support import invocation_rows

_numbers = itertools.count(1)
MOTO_ARN = "arn:aws:lambda:us-east-1:123456789012:function:notify"


def modes(text: str) -> set[str]:
    return {flag for flag in text.split(",") if flag}


@pytest.fixture(
    params=["server-default-sql_mode", "global-sql_mode-NO_BACKSLASH_ESCAPES"], scope="module"
)
def server_sql_mode(request, stack):
    """The server's GLOBAL sql_mode for the test (new sessions start with it); restored after."""
    root = stack.db.connect_root()
    with root.cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.sql_mode")
        (original,) = cursor.fetchone()
    try:
        if request.param.endswith("NO_BACKSLASH_ESCAPES"):
            with root.cursor() as cursor:
                cursor.execute(
                    "SET GLOBAL sql_mode = %s",
                    (",".join([*modes(original), "NO_BACKSLASH_ESCAPES"]),),
                )
        yield request.param
    finally:
        with root.cursor() as cursor:
            cursor.execute("SET GLOBAL sql_mode = %s", (original,))
        root.close()


@pytest.fixture
def pinned_admin(stack, server_sql_mode):
    """root, connected the project's way (sql_mode pinned) after the global mode was set."""
    connection = connect(stack.admin_settings())
    yield connection
    connection.close()


def session_mode(connection) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.sql_mode")
        return modes(cursor.fetchone()[0])


def test_the_global_mode_reaches_unpinned_sessions_but_not_pinned_ones(
    stack, server_sql_mode, pinned_admin
):
    settings = stack.db.root_settings()
    unpinned = pymysql.connect(  # what a session gets without a pinned mode
        unix_socket=settings.unix_socket, user=settings.user, password=settings.password
    )
    try:
        expected = server_sql_mode.endswith("NO_BACKSLASH_ESCAPES")
        assert ("NO_BACKSLASH_ESCAPES" in session_mode(unpinned)) is expected
    finally:
        unpinned.close()
    assert session_mode(pinned_admin) == modes(SESSION_SQL_MODE)


# -- accounts: the Lambda grant ------------------------------------------------------------


def account_state(connection) -> dict:
    """Every account, role grant and emulated INVOKE LAMBDA grant on the server."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT User, Host, Priv FROM mysql.global_priv")
        accounts = {(user, host): json.loads(priv) for user, host, priv in cursor.fetchall()}
        cursor.execute("SELECT User, Host, Role, Admin_option FROM mysql.roles_mapping")
        roles = set(cursor.fetchall())
        cursor.execute("SELECT User, Host FROM aurora_emulation.invoke_lambda_grants")
        invoke_lambda = set(cursor.fetchall())
    return {"accounts": accounts, "roles": roles, "invoke_lambda": invoke_lambda}


def backticked(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@pytest.fixture(params=[3, 2], ids=["emulated-v3", "emulated-v2"])
def emulated_version(request, pinned_admin):
    emulation.set_emulated_aurora_version(pinned_admin, request.param)
    yield request.param
    emulation.set_emulated_aurora_version(pinned_admin, 3)


@pytest.fixture
def new_accounts(pinned_admin):
    """Accounts a test creates (as ``(user, host)``), dropped afterwards."""
    created: list[tuple[str, str]] = []
    yield created
    with pinned_admin.cursor() as cursor:
        for user, host in created:
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
            cursor.execute(
                "DELETE FROM aurora_emulation.invoke_lambda_grants WHERE User = %s AND Host = %s",
                (user, host),
            )


LEGAL_ACCOUNTS = [
    pytest.param("o'brien", "%", id="quote-in-user-o'brien"),
    pytest.param("'o''", "%", id="leading-and-doubled-quotes"),
    # (host names are kept in lower case by the server)
    pytest.param("app", "h'q", id="quote-in-host"),
    pytest.param("app", "h'; grant all privileges on *.* to mallory; --", id="issue-host-no-vt"),
    pytest.param("$$", "%", id="double-dollar"),
    pytest.param("x-- y", "%", id="dash-dash-space"),
    pytest.param("a/*b", "%", id="block-comment-opener"),
    pytest.param('d"q`b', "%", id="double-quote-and-backtick"),
]


@pytest.mark.parametrize(("stem", "host"), LEGAL_ACCOUNTS)
def test_a_hostile_but_legal_account_gets_the_grant_and_no_other_account_changes(
    pinned_admin, emulated_version, new_accounts, stem, host
):
    user = f"{stem}{next(_numbers)}"
    with pinned_admin.cursor() as cursor:
        # CREATE USER takes no parameters: the account is rendered the way the grant is.
        cursor.execute(f"CREATE USER {db_grants.account_literal(user, host)}")
    new_accounts.append((user, host))
    before = account_state(pinned_admin)

    db_grants.grant_lambda_access(pinned_admin, user, host)

    after = account_state(pinned_admin)
    account = f"{backticked(user)}@{backticked(host)}"
    with pinned_admin.cursor() as cursor:
        cursor.execute("SHOW GRANTS FOR %s@%s", (user, host))
        grants = sorted(line for (line,) in cursor.fetchall())
    if emulated_version == 3:
        assert grants == sorted(
            [
                f"GRANT `AWS_LAMBDA_ACCESS` TO {account}",
                f"GRANT USAGE ON *.* TO {account}",
                f"SET DEFAULT ROLE `AWS_LAMBDA_ACCESS` FOR {account}",
            ]
        )
        assert after["roles"] - before["roles"] == {(user, host, "AWS_LAMBDA_ACCESS", "N")}
        changed = {
            k for k in after["accounts"] if after["accounts"][k] != before["accounts"].get(k)
        }
        assert changed == {(user, host)}
        assert after["accounts"][(user, host)]["default_role"] == "AWS_LAMBDA_ACCESS"
        assert after["invoke_lambda"] == before["invoke_lambda"]
    else:
        assert grants == [f"GRANT USAGE ON *.* TO {account}"]
        assert after["invoke_lambda"] - before["invoke_lambda"] == {(user, host)}
        assert after["accounts"] == before["accounts"]
        assert after["roles"] == before["roles"]
    assert after["roles"] >= before["roles"]
    assert after["invoke_lambda"] >= before["invoke_lambda"]
    assert set(after["accounts"]) == set(before["accounts"])
    assert not any(user == "mallory" for user, _ in after["accounts"])


ISSUE_HOST = "h';\x0bGRANT ALL PRIVILEGES ON *.* TO mallory;\x0b-- "
REFUSED_ACCOUNTS = [
    pytest.param("app", ISSUE_HOST, "a control character (U+000B)", id="issue-host-vertical-tab"),
    pytest.param(
        "x\\",
        "%",
        "a backslash (its meaning depends on sql_mode NO_BACKSLASH_ESCAPES)",
        id="trailing-backslash",
    ),
    pytest.param(
        "o\\'brien",
        "%",
        "a backslash (its meaning depends on sql_mode NO_BACKSLASH_ESCAPES)",
        id="backslash-quote",
    ),
    pytest.param("a\x85b", "%", "a control character (U+0085)", id="next-line-x85"),
    pytest.param("a\u2028b", "%", "a line separator (U+2028)", id="line-separator-u2028"),
    pytest.param("app", "h\x0b", "a control character (U+000B)", id="vertical-tab-in-host"),
    pytest.param("a\x0cb", "%", "a control character (U+000C)", id="form-feed"),
    pytest.param("a\x1cb", "%", "a control character (U+001C)", id="x1c"),
    pytest.param("a\nb", "%", "a control character (U+000A)", id="newline"),
]


@pytest.mark.parametrize(("stem", "host", "problem"), REFUSED_ACCOUNTS)
def test_a_hostile_account_name_is_refused_before_any_grant_runs(
    pinned_admin, emulated_version, new_accounts, stem, host, problem
):
    user = f"{stem}{next(_numbers)}"
    with pinned_admin.cursor() as cursor:
        # The account exists (made with the driver's own escaping), so only the grant's
        # rendering stands between the name and the statements.
        cursor.execute(f"CREATE USER {pinned_admin.escape(user)}@{pinned_admin.escape(host)}")
    new_accounts.append((user, host))
    before = account_state(pinned_admin)

    with pytest.raises(SqlTemplateError) as raised:
        db_grants.grant_lambda_access(pinned_admin, user, host)

    assert str(raised.value) == f"a string literal cannot contain {problem}"
    assert account_state(pinned_admin) == before


# -- identifiers and ARNs: a trigger ------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("orders\n", id="trailing-newline"),
        pytest.param("o'brien", id="quote"),
        pytest.param("t`; DROP TABLE t; --", id="backtick-statement"),
        pytest.param("t\u2028", id="line-separator-u2028"),
        pytest.param("x\\", id="trailing-backslash"),
        pytest.param("a-- b", id="dash-dash"),
        pytest.param("a/*b", id="block-comment-opener"),
    ],
)
def test_a_hostile_table_or_column_name_is_refused_before_any_sql_is_rendered(name):
    problem = (
        f"{name!r} is not a plain SQL identifier (letters, digits, _ and $, at most 64, "
        "not starting with a digit)"
    )
    with pytest.raises(SqlTemplateError) as raised:
        create_trigger_statement("t_ai", name, MOTO_ARN, "JSON_OBJECT()")
    assert str(raised.value) == problem
    with pytest.raises(SqlTemplateError) as raised:
        payload_expression("t", [name], ["id"], {"id": "int", name: "int"}, "direct")
    assert str(raised.value) == problem
    with pytest.raises(SqlTemplateError) as raised:
        quote_identifier(name)
    assert str(raised.value) == problem


@pytest.mark.parametrize(
    ("arn", "problem"),
    [
        pytest.param(MOTO_ARN + "\n", "a control character (U+000A)", id="trailing-newline"),
        pytest.param(MOTO_ARN + "'\x0b-- ", "a control character (U+000B)", id="vertical-tab"),
        pytest.param(
            MOTO_ARN + "\\",
            "a backslash (its meaning depends on sql_mode NO_BACKSLASH_ESCAPES)",
            id="trailing-backslash",
        ),
    ],
)
def test_a_hostile_arn_is_refused_by_the_resolver_and_by_the_trigger_sql(arn, problem):
    environ = {"AURORA_EVENTS_FUNCTION_ARN_NOTIFY": arn}
    with pytest.raises(FunctionArnError) as raised:
        resolve_function_arn("notify", environ=environ)
    assert str(raised.value) == f"{arn!r} is not a Lambda function ARN"
    with pytest.raises(SqlTemplateError) as raised:
        create_trigger_statement("t_ai", "t", arn, "JSON_OBJECT()")
    assert str(raised.value) == f"a string literal cannot contain {problem}"


@pytest.mark.parametrize(
    "arn",
    [
        pytest.param(MOTO_ARN + ":$LATEST", id="qualifier-$LATEST"),
        pytest.param(MOTO_ARN + ":live", id="alias"),
    ],
)
def test_a_qualified_arn_is_taken_whole(arn):
    assert resolve_function_arn("notify", environ={"AURORA_EVENTS_FUNCTION_ARN_NOTIFY": arn}) == arn


@pytest.mark.parametrize(
    "arn",
    [
        pytest.param("arn:aws:lambda:us-east-1:١٢٣٤٥٦٧٨٩٠١٢:function:notify", id="arabic-digits"),
        pytest.param(MOTO_ARN + ":é", id="non-ascii-qualifier"),
        pytest.param(" " + MOTO_ARN, id="leading-space"),
    ],
)
def test_an_arn_with_non_ascii_or_extra_characters_is_refused(arn):
    with pytest.raises(FunctionArnError) as raised:
        resolve_function_arn("notify", environ={"AURORA_EVENTS_FUNCTION_ARN_NOTIFY": arn})
    assert str(raised.value) == f"{arn!r} is not a Lambda function ARN"


def test_a_trigger_on_dollar_names_sends_exactly_the_row_whatever_the_global_mode(
    admin, database, test_functions, server_sql_mode
):
    arn = test_functions.arns["test-echo"]
    data = bytes(range(100))  # long enough for TO_BASE64 to break its output into lines
    app = database.connect()
    assert session_mode(app) == modes(SESSION_SQL_MODE)
    with app.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE `t$$` (`id$$` INT PRIMARY KEY, `c$$` TEXT, `b$` VARBINARY(200))"
        )
        payload = payload_expression(
            "t$$",
            ["id$$", "c$$", "b$"],
            ["id$$"],
            {"id$$": "int", "c$$": "text", "b$": "varbinary"},
            "direct",
        )
        cursor.execute(create_trigger_statement("t$$_ai", "t$$", arn, payload))
        cursor.execute(
            "INSERT INTO `t$$` VALUES (1, %s, %s)", ("it's a \\ and a\nnewline $$ -- x", data)
        )
        cursor.execute(
            "SELECT SQL_MODE FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = 't$$_ai'"
        )
        (trigger_mode,) = cursor.fetchone()
    app.close()

    (row,) = invocation_rows(admin, database.name)
    event = json.loads(row["payload"])
    assert (event["table"], event["primary_key"]) == ("t$$", {"id$$": 1})
    # The binary value's '\n' (in the payload's REPLACE) means a line break only without
    # NO_BACKSLASH_ESCAPES: a trigger created under it would leave TO_BASE64's breaks in.
    assert event["row"] == {
        "id$$": 1,
        "c$$": "it's a \\ and a\nnewline $$ -- x",
        "b$": base64.b64encode(data).decode(),
    }
    assert modes(trigger_mode) == modes(SESSION_SQL_MODE)


def test_the_emulation_installs_into_a_dollar_named_database_in_one_piece(
    stack, pinned_admin, server_sql_mode
):
    name = f"e$${next(_numbers)}"
    with pinned_admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {quote_identifier(name)}")
    try:
        emulation.install_lambda_functions(pinned_admin, name)
        with pinned_admin.cursor() as cursor:
            cursor.execute(
                "SELECT ROUTINE_NAME, SQL_MODE FROM information_schema.ROUTINES "
                "WHERE ROUTINE_SCHEMA = %s ORDER BY ROUTINE_NAME",
                (name,),
            )
            routines = [(routine, modes(mode)) for routine, mode in cursor.fetchall()]
        assert routines == [
            ("lambda_async", modes(SESSION_SQL_MODE)),
            ("lambda_sync", modes(SESSION_SQL_MODE)),
        ]
    finally:
        with pinned_admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {quote_identifier(name)}")


def test_migrations_create_their_triggers_under_the_pinned_mode(database, server_sql_mode):
    from alembic import command

    command.upgrade(alembic_config(database.url), "head")
    with database.connect().cursor() as cursor:
        cursor.execute(
            "SELECT TRIGGER_NAME, SQL_MODE FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME"
        )
        triggers = {name: modes(mode) for name, mode in cursor.fetchall()}
    assert triggers == dict.fromkeys(
        [
            "customer_feedback_ai_email",
            "customer_feedback_ai_notify",
            "customers_ad_notify",
            "customers_ai_notify",
            "customers_au_notify",
            "orders_ai_notify",
            "orders_au_notify",
        ],
        modes(SESSION_SQL_MODE),
    )
