"""The database grants (:mod:`infra.database.grants`), on the real MariaDB with the
emulation: the trigger definer's v3 path (a default role) and v2 path (the INVOKE LAMBDA
privilege), Aurora's statements, and the drain's account."""

import re

import pymysql
import pytest

import sql
from infra.database import grants as db_grants
from infra.database.dialects import AURORA_DIALECTS
from infra.database.grants import AccountNotFound, Server
from tests.infra.aws.conftest import unique
from tests.support import invocation_rows

ACCESS_DENIED = (
    1227,
    "Access denied; you need (at least one of) the Invoke Lambda privilege(s) for this operation",
)


def create_account(admin, database, user, host="%"):
    account = db_grants.account_literal(user, host)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER {account} IDENTIFIED BY 'pw'")
        cursor.execute(f"GRANT ALL ON `{database.name}`.* TO {account}")


def connect_as(stack, database, user):
    return pymysql.connect(
        host="127.0.0.1",
        port=stack.db.port,
        user=user,
        password="pw",
        database=database.name,
        autocommit=True,
    )


def make_trigger_table(connection, arn):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT)")
        cursor.execute(
            "CREATE TRIGGER t_ai AFTER INSERT ON t FOR EACH ROW "
            f"SELECT lambda_async('{arn}', JSON_OBJECT('id', NEW.id)) INTO @r"
        )


def test_the_local_server_is_detected_as_the_emulation_of_v3(admin):
    server = db_grants.detect_server(admin)
    assert (server.aurora_major, server.emulated) == (3, True)
    assert "MariaDB" in server.version


def test_v3_grant_gives_a_default_role_that_lets_the_account_call_lambda_async(
    stack, admin, database, test_functions
):
    user = unique("definer")
    create_account(admin, database, user)
    server, statements = db_grants.grant_lambda_access(admin, user, "%")

    assert statements == [
        f"GRANT AWS_LAMBDA_ACCESS TO '{user}'@'%'",
        f"SET DEFAULT ROLE AWS_LAMBDA_ACCESS FOR '{user}'@'%'",
    ]
    with admin.cursor() as cursor:
        cursor.execute("SELECT Role FROM mysql.roles_mapping WHERE User = %s", (user,))
        assert cursor.fetchall() == (("AWS_LAMBDA_ACCESS",),)
    assert sorted(show_grants(admin, user)) == [
        f"GRANT ALL PRIVILEGES ON `{database.name}`.* TO `{user}`@`%`",
        f"GRANT USAGE ON *.* TO `{user}`@`%`",
        f"GRANT `AWS_LAMBDA_ACCESS` TO `{user}`@`%`",
        f"SET DEFAULT ROLE `AWS_LAMBDA_ACCESS` FOR `{user}`@`%`",
    ]
    assert db_grants.lambda_access(admin, server, user, "%") == db_grants.LambdaAccess(True, True)
    with connect_as(stack, database, user).cursor() as cursor:
        cursor.execute("SELECT lambda_async(%s, '{\"a\": 1}')", (test_functions.arns["test-echo"],))
    assert [r["caller"] for r in invocation_rows(admin, database.name)] == [f"{user}@%"]


def test_an_account_that_does_not_exist_exactly_is_refused_naming_the_ones_that_do(admin, database):
    user = unique("hosty")
    create_account(admin, database, user, "10.0.%")
    create_account(admin, database, user, "localhost")
    with pytest.raises(AccountNotFound) as raised:
        db_grants.grant_lambda_access(admin, user, "%")
    assert str(raised.value) == (
        f"no account '{user}'@'%' on this server; the accounts named '{user}': "
        f"'{user}'@'10.0.%', '{user}'@'localhost'"
    )
    with pytest.raises(AccountNotFound, match="and no account named 'nobody-at-all'"):
        db_grants.grant_lambda_access(admin, "nobody-at-all", "%")
    with admin.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM mysql.roles_mapping WHERE User = %s", (user,))
        assert cursor.fetchone()[0] == 0


def test_v2_privilege_path_a_trigger_works_with_invoke_lambda_and_gets_1227_without(
    stack, admin, database, test_functions, emulated_v2
):
    arn = test_functions.arns["test-echo"]
    server = db_grants.detect_server(admin)
    assert (server.aurora_major, server.emulated) == (2, True)
    user = unique("v2definer")
    create_account(admin, database, user)
    definer = connect_as(stack, database, user)
    make_trigger_table(definer, arn)

    with pytest.raises(pymysql.err.OperationalError) as raised, definer.cursor() as cursor:
        cursor.execute("INSERT INTO t (v) VALUES ('before the grant')")
    assert raised.value.args == ACCESS_DENIED
    # The v3 role is no help on v2: the app user holds it, and is refused all the same.
    with pytest.raises(pymysql.err.OperationalError) as raised, database.connect().cursor() as c:
        c.execute("SELECT lambda_async(%s, '{}')", (arn,))
    assert raised.value.args == ACCESS_DENIED

    _, statements = db_grants.grant_lambda_access(admin, user, "%")
    assert statements == [
        "INSERT IGNORE INTO aurora_emulation.invoke_lambda_grants (User, Host) "
        f"VALUES ('{user}', '%')"
    ]
    with definer.cursor() as cursor:
        cursor.execute("INSERT INTO t (v) VALUES ('after the grant')")
    rows = invocation_rows(admin, database.name)
    assert [(r["caller"], r["payload"]) for r in rows] == [(f"{user}@%", '{"id": 2}')]
    assert db_grants.lambda_access(admin, server, user, "%") == db_grants.LambdaAccess(True, True)


def test_aurora_statements_use_mysql_8_and_5_7_forms():
    v3 = Server(AURORA_DIALECTS[3], "3.05.2")
    v2 = Server(AURORA_DIALECTS[2], "2.11.2")
    assert db_grants.grant_statements(v3, "app", "%") == [
        "GRANT AWS_LAMBDA_ACCESS TO 'app'@'%'",
        "SET DEFAULT ROLE AWS_LAMBDA_ACCESS TO 'app'@'%'",
    ]
    assert db_grants.default_role_statements(v3, "app", "%") == [
        "SET DEFAULT ROLE AWS_LAMBDA_ACCESS TO 'app'@'%'"
    ]
    assert db_grants.grant_statements(v2, "o'brien", "10.0.%") == [
        "GRANT INVOKE LAMBDA ON *.* TO 'o''brien'@'10.0.%'"
    ]


def test_show_grants_is_read_for_invoke_lambda():
    assert db_grants.has_invoke_lambda(
        [
            "GRANT USAGE ON *.* TO `app`@`%`",
            "GRANT SELECT, INVOKE LAMBDA ON *.* TO `app`@`%`",
        ]
    )
    assert not db_grants.has_invoke_lambda(
        ["GRANT USAGE ON *.* TO `app`@`%`", "GRANT ALL PRIVILEGES ON `db`.* TO `app`@`%`"]
    )


@pytest.mark.parametrize(
    ("text", "account"),
    [("app@%", ("app", "%")), ("'app'@'10.0.%'", ("app", "10.0.%")), ("app", ("app", "%"))],
)
def test_accounts_are_parsed_from_user_at_host(text, account):
    assert db_grants.parse_account(text) == account


@pytest.mark.parametrize(("version", "major"), [("3.05.2", 3), ("2.11.2", 2)])
def test_aurora_version_gives_the_major(version, major):
    assert db_grants.aurora_major_from_version(version) == major


# -- the drain's runtime account ----------------------------------------------------------


def migrate(database):
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    config = Config(str(Path(__file__).resolve().parents[3] / "alembic.ini"))
    config.attributes.update(database_url=database.url, skip_logging_config=True)
    command.upgrade(config, "head")


def show_grants(admin, user, host="%") -> list[str]:
    """What the server says ``user``@``host`` holds (the password's hash left out)."""
    with admin.cursor() as cursor:
        cursor.execute("SHOW GRANTS FOR %s@%s", (user, host))
        return [re.sub(r" IDENTIFIED BY PASSWORD '[^']*'", "", line) for (line,) in cursor]


def test_the_drain_account_gets_select_and_insert_on_its_tables_only(admin, database):
    migrate(database)
    user = unique("drain")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%'")
    statements = db_grants.grant_drain_access(admin, user, "%", database.name, ("app", "%"))
    assert statements == [
        f"GRANT SELECT, INSERT ON `{database.name}`.`customers` TO '{user}'@'%'",
        f"GRANT SELECT, INSERT ON `{database.name}`.`orders` TO '{user}'@'%'",
        f"GRANT SELECT, INSERT ON `{database.name}`.`ingest_conflicts` TO '{user}'@'%'",
    ]
    assert sorted(show_grants(admin, user)) == sorted(
        [
            f"GRANT USAGE ON *.* TO `{user}`@`%`",
            f"GRANT SELECT, INSERT ON `{database.name}`.`customers` TO `{user}`@`%`",
            f"GRANT SELECT, INSERT ON `{database.name}`.`orders` TO `{user}`@`%`",
            f"GRANT SELECT, INSERT ON `{database.name}`.`ingest_conflicts` TO `{user}`@`%`",
        ]
    )


def test_the_drain_grant_before_the_migrations_names_the_missing_table(admin, database):
    user = unique("early")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%'")
    with pytest.raises(db_grants.GrantError) as refused:
        db_grants.grant_drain_access(admin, user, "%", database.name)
    assert str(refused.value) == (
        f"table {database.name}.customers does not exist: run the migrations "
        "(alembic upgrade head) before granting the drain's account"
    )
    assert show_grants(admin, user) == [f"GRANT USAGE ON *.* TO `{user}`@`%`"]


def test_the_drain_account_must_not_be_the_definer_or_hold_lambda_access(admin, database):
    migrate(database)
    with pytest.raises(db_grants.GrantError, match="is the triggers' definer"):
        db_grants.grant_drain_access(admin, "app", "%", database.name, definer=("app", "%"))
    # The app user (the stack's definer) holds the Lambda role: refused as a drain account.
    with pytest.raises(db_grants.GrantError) as refused:
        db_grants.grant_drain_access(admin, "app", "%", database.name)
    assert str(refused.value) == (
        "'app'@'%' holds Lambda access: the drain's account must only do its own work "
        "(revoke it, or use another account)"
    )


def test_grant_command_for_the_drain_account(capsys, stack, admin, database, monkeypatch):
    from tests.infra.aws.conftest import run_aurora_events

    migrate(database)
    user = unique("cli-drain")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%'")
    monkeypatch.setenv("AURORA_EVENTS_ADMIN_URL", stack.db.root_settings().url(driver="mysql"))
    assert run_aurora_events(f"aurora-events grant --drain-user {user}") == 2
    assert capsys.readouterr().err == (
        "aurora-events: --drain-user needs --database: the schema the drain writes\n"
    )
    command = f"aurora-events grant --drain-user {user} --database {database.name}"
    assert run_aurora_events(command) == 0
    assert capsys.readouterr().out == (
        "-- the drain's account: the rows of the tables it writes, nothing else\n"
        f"GRANT SELECT, INSERT ON `{database.name}`.`customers` TO '{user}'@'%';\n"
        f"GRANT SELECT, INSERT ON `{database.name}`.`orders` TO '{user}'@'%';\n"
        f"GRANT SELECT, INSERT ON `{database.name}`.`ingest_conflicts` TO '{user}'@'%';\n"
    )
    # What the server holds now, not only what the command printed.
    assert sorted(show_grants(admin, user)) == [
        f"GRANT SELECT, INSERT ON `{database.name}`.`customers` TO `{user}`@`%`",
        f"GRANT SELECT, INSERT ON `{database.name}`.`ingest_conflicts` TO `{user}`@`%`",
        f"GRANT SELECT, INSERT ON `{database.name}`.`orders` TO `{user}`@`%`",
        f"GRANT USAGE ON *.* TO `{user}`@`%`",
    ]
    monkeypatch.delenv("AURORA_EVENTS_ADMIN_URL")
    assert run_aurora_events(command) == 2
    assert capsys.readouterr().err == (
        "aurora-events: give --admin-url, or set AURORA_EVENTS_ADMIN_URL\n"
    )


def test_the_relay_account_gets_the_outbox_only_once_it_exists(admin, database):
    from migrations.row_event_sql import create_outbox_statements

    user = unique("relay")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%'")
    with pytest.raises(db_grants.GrantError) as refused:
        db_grants.grant_relay_access(admin, user, "%", database.name)
    assert str(refused.value) == (
        f"table {database.name}.aurora_events_outbox does not exist: run the migrations "
        "(alembic upgrade head) before granting the relay's account"
    )
    with database.connect().cursor() as cursor:
        for statement in create_outbox_statements():
            cursor.execute(statement)
    statements = db_grants.grant_relay_access(admin, user, "%", database.name, ("app", "%"))
    assert statements == [
        f"GRANT SELECT, UPDATE, DELETE ON `{database.name}`.`aurora_events_outbox` TO '{user}'@'%'"
    ]
    assert sorted(show_grants(admin, user)) == [
        f"GRANT SELECT, UPDATE, DELETE ON `{database.name}`.`aurora_events_outbox` TO `{user}`@`%`",
        f"GRANT USAGE ON *.* TO `{user}`@`%`",
    ]
    # Revision 0010's hold counter: granted with the outbox once it exists.
    create_hold_counter(database)
    statements = db_grants.grant_relay_access(admin, user, "%", database.name, ("app", "%"))
    assert statements[1:] == [
        f"GRANT SELECT, UPDATE ON `{database.name}`.`aurora_events_outbox_holds` TO '{user}'@'%'"
    ]
    assert (
        f"GRANT SELECT, UPDATE ON `{database.name}`.`aurora_events_outbox_holds` TO `{user}`@`%`"
        in show_grants(admin, user)
    )


def create_hold_counter(database) -> None:
    """The outbox's hold counter, as revision 0010 makes it."""
    with database.connect().cursor() as cursor:
        for statement in sql.render("outbox/create_hold_counter.sql"):
            cursor.execute(statement)


def create_outbox(database) -> None:
    """The outbox table, as ``op.create_event_outbox()`` makes it."""
    from migrations.row_event_sql import create_outbox_statements

    with database.connect().cursor() as cursor:
        for statement in create_outbox_statements():
            cursor.execute(statement)


def test_grant_command_for_the_relay_account(capsys, stack, admin, database, monkeypatch):
    from tests.infra.aws.conftest import run_aurora_events

    user = unique("cli-relay")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%'")
    monkeypatch.setenv("AURORA_EVENTS_ADMIN_URL", stack.db.root_settings().url(driver="mysql"))
    assert run_aurora_events(f"aurora-events grant --relay-user {user}") == 2
    assert capsys.readouterr().err == (
        "aurora-events: --relay-user needs --database: the schema whose outbox the relay works\n"
    )
    command = f"aurora-events grant --relay-user {user} --database {database.name}"
    assert run_aurora_events(command) == 2  # before the migration that creates the outbox
    assert capsys.readouterr().err == (
        f"aurora-events: table {database.name}.aurora_events_outbox does not exist: run the "
        "migrations (alembic upgrade head) before granting the relay's account\n"
    )
    create_outbox(database)
    assert run_aurora_events(command) == 0
    assert capsys.readouterr().out == (
        "-- the relay's account: the outbox table, nothing else\n"
        f"GRANT SELECT, UPDATE, DELETE ON `{database.name}`.`aurora_events_outbox` "
        f"TO '{user}'@'%';\n"
    )
    assert sorted(show_grants(admin, user)) == [
        f"GRANT SELECT, UPDATE, DELETE ON `{database.name}`.`aurora_events_outbox` TO `{user}`@`%`",
        f"GRANT USAGE ON *.* TO `{user}`@`%`",
    ]
    # Revision 0010's hold counter: the same command grants it with the outbox.
    create_hold_counter(database)
    assert run_aurora_events(command) == 0
    assert capsys.readouterr().out == (
        "-- the relay's account: the outbox table and its hold counter, nothing else\n"
        f"GRANT SELECT, UPDATE, DELETE ON `{database.name}`.`aurora_events_outbox` "
        f"TO '{user}'@'%';\n"
        f"GRANT SELECT, UPDATE ON `{database.name}`.`aurora_events_outbox_holds` "
        f"TO '{user}'@'%';\n"
    )
    assert (
        f"GRANT SELECT, UPDATE ON `{database.name}`.`aurora_events_outbox_holds` TO `{user}`@`%`"
        in show_grants(admin, user)
    )
    # The definer named in the same command is refused as the relay's account.
    definer = unique("cli-definer")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{definer}'@'%'")
    refused = (
        f"aurora-events grant --user {definer} --relay-user {definer} --database {database.name}"
    )
    assert run_aurora_events(refused) == 2
    assert capsys.readouterr().err == (
        f"aurora-events: the relay's account '{definer}'@'%' is the triggers' definer: use a "
        "separate account that can only do its own work\n"
    )
    # Refused before anything ran: the definer did not get Lambda access on the way.
    assert show_grants(admin, definer) == [f"GRANT USAGE ON *.* TO `{definer}`@`%`"]
