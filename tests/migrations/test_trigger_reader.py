"""Reading the installed triggers back: the pure scanner of a trigger body (the project's
own trigger texts, qualified and unqualified ARNs, things that only look like calls),
information_schema on the real server after the migrations, and the round trip
``from_database(render(t)) == t`` for every delivery, text version and column type."""

from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, pool

import sql
from functions.common.database import parse_database_url
from migrations.function_arns import FunctionArn, FunctionArnError, catalog_function
from migrations.lambda_trigger import LambdaTrigger
from migrations.row_event_sql import (
    TRIGGER_TEXTS,
    VALUE_FORMATS,
    TriggerDefinitionError,
    create_outbox_statements,
    create_trigger_statement,
    outbox_trigger_statement,
)
from migrations.trigger_compare import trigger_operations
from migrations.trigger_reader import (
    TriggerCalls,
    definer_account,
    from_database,
    read_triggers,
    string_value,
    table_shapes,
    trigger_calls,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:lambda:ap-northeast-2:123456789012:function:shop-events-notify"
RELAY = "arn:aws:lambda:ap-northeast-2:123456789012:function:shop-events-relay"
PAYLOAD = "JSON_OBJECT('version', 1, 'row', JSON_OBJECT('id', NEW.`id`, 'it''s', NEW.`x`))"


@pytest.mark.parametrize("arn", [ARN, f"{ARN}:live", f"{ARN}:7", f"{ARN}:$LATEST"])
def test_a_direct_trigger_calls_its_function_qualified_or_not(arn):
    statement = create_trigger_statement("orders_ai_notify", "orders", arn, PAYLOAD)
    assert trigger_calls(statement) == TriggerCalls("direct", (arn,), ())


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_outbox_trigger_writes_its_target_and_rings_the_relay(version):
    statement = outbox_trigger_statement(
        "orders_ai_notify", "orders", f"{ARN}:live", f"{RELAY}:live", PAYLOAD, 1.0, version
    )
    assert trigger_calls(statement) == TriggerCalls("outbox", (f"{RELAY}:live",), (f"{ARN}:live",))


def test_function_arns_parse_and_print():
    qualified = FunctionArn.parse(f"{ARN}:live")
    assert qualified == FunctionArn(
        "aws", "ap-northeast-2", "123456789012", "shop-events-notify", "live"
    )
    assert (qualified.function_arn, qualified.name, qualified.qualifier, qualified.region) == (
        ARN,
        "shop-events-notify",
        "live",
        "ap-northeast-2",
    )
    assert str(qualified) == f"{ARN}:live" and qualified.short_name == "shop-events-notify:live"
    assert FunctionArn.parse(ARN).qualifier is None
    assert str(FunctionArn.parse(ARN)) == ARN == str(qualified.unqualified)
    assert FunctionArn.parse(f"{ARN}:$LATEST").qualifier == "$LATEST"
    for other in (
        "arn:aws:s3:::bucket",
        "shop-events-notify",
        f"{ARN}:live:again",
        f"{ARN} ",
        f"{ARN}\n",
        "arn:aws:lambda:us-east-1:1234:function:short-account",
    ):
        assert FunctionArn.find(other) is None, other
        with pytest.raises(FunctionArnError):
            FunctionArn.parse(other)


def test_an_arn_names_a_catalog_function_by_the_deployment_s_prefix_or_its_override():
    arn = FunctionArn.parse(f"{ARN}:live")
    assert catalog_function(arn, {"AURORA_EVENTS_PREFIX": "shop-events"}) == "notify"
    # Another deployment's function is not the catalog's: the ARN itself.
    assert catalog_function(arn, {}) == f"{ARN}:live"
    override = {"AURORA_EVENTS_FUNCTION_ARN_EMAIL": f"{ARN}:live"}
    assert catalog_function(arn, override) == "email"
    # An override for the unqualified function is another ARN than the alias.
    assert catalog_function(arn, {"AURORA_EVENTS_FUNCTION_ARN_EMAIL": ARN}) == f"{ARN}:live"


def test_what_only_looks_like_a_call_is_not_one():
    body = f"""
    BEGIN
      -- SELECT lambda_async('{RELAY}', '{{}}');  (a comment: not a call)
      /* lambda_sync('{RELAY}', '{{}}') */
      SET @x = JSON_OBJECT('lambda_async', NEW.`lambda_async`, 'arn', '{ARN}');
    END
    """
    assert trigger_calls(body) is None  # neither calls Lambda nor writes the outbox


def test_schema_qualified_calls_other_quotes_and_escapes():
    body = f'CALL mysql.lambda_async("{ARN}", \'{{"a": "it\'\'s"}}\')'
    assert trigger_calls(body) == TriggerCalls("direct", (ARN,), ())
    body = f"SELECT LAMBDA_SYNC( '{ARN}' , '{{}}') INTO @r"
    assert trigger_calls(body) == TriggerCalls("direct", (ARN,), ())
    assert string_value(r"'a''b\'c\\d\n'") == "a'b'c\\d\n"


def test_a_call_with_a_variable_function_is_counted_as_unreadable():
    calls = trigger_calls("SELECT lambda_async(@target, '{}') INTO @r")
    assert calls == TriggerCalls("direct", (), (), unreadable_calls=1)


def test_definers():
    assert definer_account("app@%") == ("app", "%")
    assert definer_account("migrator@10.0.%") == ("migrator", "10.0.%")
    assert definer_account("odd@name@localhost") == ("odd@name", "localhost")


def test_the_migrated_schema_s_triggers_are_read_from_information_schema(stack, database, admin):
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes.update(database_url=database.url, skip_logging_config=True)
    command.upgrade(config, "head")

    triggers = [t for t in read_triggers(admin, database.name) if t.managed]
    arns = stack.resources.live_arns  # the migrations resolve each function to its alias
    notify, email, relay = arns["notify"], arns["email"], arns["relay"]
    outbox = TriggerCalls("outbox", (relay,), (notify,))
    assert sorted((t.table, t.name, t.definer, t.calls) for t in triggers) == [
        (
            "customer_feedback",
            "customer_feedback_ai_email",
            ("app", "%"),
            TriggerCalls("direct", (email,), ()),
        ),
        (
            "customer_feedback",
            "customer_feedback_ai_notify",
            ("app", "%"),
            TriggerCalls("direct", (notify,), ()),
        ),
        *(
            ("customers", f"customers_{code}_notify", ("app", "%"), outbox)
            for code in ("ad", "ai", "au")
        ),
        *(("orders", f"orders_{code}_notify", ("app", "%"), outbox) for code in ("ai", "au")),
    ]
    (customers,) = [t for t in triggers if t.name == "customers_ai_notify"]
    assert customers.describe(lambda arn: arn.split(":function:")[1]) == (
        "customers_ai_notify on customers: outbox -> aurora-events-notify:live "
        "(doorbell: aurora-events-relay:live), as 'app'@'%'"
    )
    assert read_triggers(admin, "no_such_schema") == []


# -- the round trip ----------------------------------------------------------------------

NOTIFY = "arn:aws:lambda:us-east-1:123456789012:function:aurora-events-notify:live"
EMAIL = "arn:aws:lambda:us-east-1:123456789012:function:aurora-events-email"
RELAY_ARN = "arn:aws:lambda:us-east-1:123456789012:function:aurora-events-relay:live"
# One column of each type the row event carries (VALUE_FORMATS), as the server names it.
COLUMN_DEFINITIONS = {
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "mediumint": "MEDIUMINT",
    "int": "INT",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "year": "YEAR",
    "char": "CHAR(3)",
    "varchar": "VARCHAR(10)",
    "tinytext": "TINYTEXT",
    "text": "TEXT",
    "mediumtext": "MEDIUMTEXT",
    "longtext": "LONGTEXT",
    "enum": "ENUM('a', 'b')",
    "set": "SET('a', 'b')",
    "json": "JSON",
    "decimal": "DECIMAL(5, 2)",
    "datetime": "DATETIME(6)",
    "timestamp": "TIMESTAMP(6) NULL",
    "date": "DATE",
    "time": "TIME(3)",
    "bit": "BIT(8)",
    "binary": "BINARY(4)",
    "varbinary": "VARBINARY(8)",
    "tinyblob": "TINYBLOB",
    "blob": "BLOB",
    "mediumblob": "MEDIUMBLOB",
    "longblob": "LONGBLOB",
    "uuid": "UUID",
    "inet4": "INET4",
    "inet6": "INET6",
}
ALL_COLUMNS = ("id", *(f"c_{name}" for name in COLUMN_DEFINITIONS))


@pytest.fixture(scope="module")
def reader_db(stack):
    """One schema for this module: table ``everything`` (a column of each type) and the
    outbox table."""
    url = stack.create_database("reader_round_trip")
    engine = create_engine(parse_database_url(url).url(), poolclass=pool.NullPool)
    columns = ", ".join(f"c_{name} {ddl}" for name, ddl in COLUMN_DEFINITIONS.items())
    with engine.begin() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(f"CREATE TABLE everything (id BIGINT PRIMARY KEY, {columns})")
        for statement in [*create_outbox_statements(), *sql.render("outbox/add_ordering_key.sql")]:
            cursor.execute(statement)
    yield engine
    engine.dispose()


@pytest.fixture
def arns(monkeypatch):
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_NOTIFY", NOTIFY)
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_EMAIL", EMAIL)
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_RELAY", RELAY_ARN)


def installed(engine, *triggers):
    """Install ``triggers`` (dropping them again afterwards is the caller's)."""
    with engine.begin() as connection:
        operations = Operations(MigrationContext.configure(connection))
        for trigger in triggers:
            operations.create_lambda_trigger(trigger)


def drop_all(engine):
    with engine.begin() as connection:
        cursor = connection.connection.cursor()
        for trigger in read_triggers(connection):
            cursor.execute(f"DROP TRIGGER `{trigger.name}`")


def test_every_type_the_payload_carries_is_in_the_round_trip_table(reader_db):
    with reader_db.connect() as connection:
        types = {
            data_type
            for (data_type,) in connection.exec_driver_sql(
                "SELECT DATA_TYPE FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'everything'"
            )
        }
    # INTEGER and REAL are INT and DOUBLE to the server; JSON is LONGTEXT on MariaDB.
    assert set(VALUE_FORMATS) - types == {"integer", "real", "json"}


def test_from_database_of_a_rendered_trigger_is_that_trigger(reader_db, arns):
    declared = {
        LambdaTrigger(
            table="everything",
            function="notify",
            columns=ALL_COLUMNS,
            name=f"everything_{delivery}_{version}",
            delivery=delivery,
            template_version=version,
        )
        for delivery, version in TRIGGER_TEXTS
    }
    declared |= {
        # The default name, another function, a primary key of the trigger's own.
        LambdaTrigger(table="everything", function="email", columns=("id", "c_json")),
        LambdaTrigger(
            table="everything",
            function="email",
            columns=("c_varchar",),
            primary_key=("id", "c_int"),
            name="everything_by_two",
            delivery="outbox",
            template_version=3,
        ),
    }
    installed(reader_db, *declared)
    try:
        with reader_db.connect() as connection:
            assert set(from_database(connection)) == declared
            # By the deployment's naming, without the overrides: the same declarations.
            by_prefix = from_database(connection, environ={"AURORA_EVENTS_PREFIX": "aurora-events"})
            assert set(by_prefix) == declared
            # Another deployment's functions: named by their ARNs.
            foreign = from_database(connection, environ={"AURORA_EVENTS_PREFIX": "other"})
            assert {t.function for t in foreign} == {NOTIFY, EMAIL}
            assert all(t.delivery == "direct" for t in foreign)  # the relay is not "relay"
    finally:
        drop_all(reader_db)


def test_a_trigger_changed_by_hand_is_ours_but_no_declaration(reader_db, arns):
    trigger = LambdaTrigger(table="everything", function="notify", columns=("id", "c_int"))
    installed(reader_db, trigger)
    try:
        with reader_db.connect() as connection:
            (read,) = read_triggers(connection)
            assert (read.managed, read.declaration) == (True, trigger)
            body = read.body.replace("'c_int', NEW.`c_int`", "'c_int', NEW.`c_int` + 1")
            cursor = connection.connection.cursor()
            cursor.execute("DROP TRIGGER everything_ai_notify")
            cursor.execute(
                "CREATE TRIGGER everything_ai_notify AFTER INSERT ON everything "
                f"FOR EACH ROW {body}"
            )
            cursor.execute(
                "CREATE TRIGGER everything_audit AFTER INSERT ON everything "
                "FOR EACH ROW SET @last_id = NEW.id"
            )
            read = {t.name: t for t in read_triggers(connection)}
            assert (
                read["everything_ai_notify"].managed,
                read["everything_ai_notify"].declaration,
            ) == (
                True,
                None,
            )
            assert read["everything_ai_notify"].calls == TriggerCalls("direct", (NOTIFY,), ())
            assert (read["everything_audit"].managed, read["everything_audit"].declaration) == (
                False,
                None,
            )
            assert from_database(connection) == []
    finally:
        drop_all(reader_db)


def test_a_column_whose_type_changed_under_the_trigger_leaves_no_declaration(reader_db, arns):
    installed(
        reader_db, LambdaTrigger(table="everything", function="notify", columns=("id", "c_date"))
    )
    try:
        with reader_db.connect() as connection:
            connection.exec_driver_sql("ALTER TABLE everything MODIFY c_date DATETIME(6)")
            (read,) = read_triggers(connection)
            assert (read.managed, read.declaration) == (True, None)
    finally:
        with reader_db.connect() as connection:
            connection.exec_driver_sql("ALTER TABLE everything MODIFY c_date DATE")
        drop_all(reader_db)


# -- change events: one declaration, one trigger per operation (issue 19) ------------------

CHANGE_DECLARATIONS = {
    # Every operation, each text of change events, every column type.
    LambdaTrigger.declare(
        "everything",
        "notify",
        ALL_COLUMNS,
        delivery="outbox",
        operations=("INSERT", "UPDATE", "DELETE"),
    ),
    LambdaTrigger.declare(
        "everything",
        "email",
        ALL_COLUMNS,
        delivery="direct",
        operations=("UPDATE", "DELETE"),
        name="everything_mail",
    ),
    # Conditions: columns_changed, and a when with strings, parentheses and functions.
    LambdaTrigger.declare(
        "everything",
        "notify",
        ("id", "c_varchar", "c_int"),
        delivery="outbox",
        operations=("UPDATE",),
        name="everything_status",
        columns_changed=("c_varchar",),
        when="(NEW.c_int > 3 OR OLD.`c_int` IS NULL) AND NEW.c_varchar <> 'a ) ; b'",
    ),
    LambdaTrigger.declare(
        "everything",
        "email",
        ("id", "c_int"),
        delivery="outbox",
        operations=("DELETE",),
        when="OLD.c_int  IN (1, 2)",
    ),
}


def test_change_declarations_round_trip_through_the_database(reader_db, arns):
    installed(reader_db, *CHANGE_DECLARATIONS)
    try:
        with reader_db.connect() as connection:
            names = {(t.name, t.event) for t in read_triggers(connection)}
            assert names == {
                ("everything_ai_notify", "INSERT"),
                ("everything_au_notify", "UPDATE"),
                ("everything_ad_notify", "DELETE"),
                ("everything_mail_au", "UPDATE"),
                ("everything_mail_ad", "DELETE"),
                ("everything_status", "UPDATE"),
                ("everything_ad_email", "DELETE"),
            }
            assert set(from_database(connection)) == CHANGE_DECLARATIONS
            installed_now = read_triggers(connection)
            shapes = table_shapes(connection, installed_now[0].schema)
            assert trigger_operations(CHANGE_DECLARATIONS, installed_now, shapes) == ([], [])
            # Another condition is another trigger: replaced, the old one restored on downgrade.
            (status,) = [t for t in CHANGE_DECLARATIONS if t.name == "everything_status"]
            changed = replace(status, when="NEW.c_int > 4")
            others = CHANGE_DECLARATIONS - {status}
            drops, changes = trigger_operations({*others, changed}, installed_now, shapes)
            assert drops == []
            (operation,) = changes
            assert (operation.trigger, operation.replaces) == (changed, status)
            # Spacing in a condition is no difference.
            spaced = replace(status, when=status.when.replace(" AND ", "\n   AND  "))
            assert trigger_operations({*others, spaced}, installed_now, shapes) == ([], [])
            # One operation fewer: the declaration is replaced by itself without it.
            (everything,) = [
                t for t in CHANGE_DECLARATIONS if t.name is None and t.function == "notify"
            ]
            fewer = replace(everything, operations=("INSERT", "UPDATE"))
            drops, changes = trigger_operations(
                {*(CHANGE_DECLARATIONS - {everything}), fewer}, installed_now, shapes
            )
            assert [d.trigger for d in drops] == [everything.for_operation("DELETE")]
            assert changes == []
    finally:
        drop_all(reader_db)


def test_conditions_are_checked_when_the_migration_runs(reader_db, arns):
    bad_column = LambdaTrigger.declare(
        "everything",
        "notify",
        ("id",),
        delivery="outbox",
        operations=("UPDATE",),
        when="NEW.no_such_column > 1",
    )
    with pytest.raises(TriggerDefinitionError, match="NEW.no_such_column"):
        installed(reader_db, bad_column)
    old_on_insert = LambdaTrigger.declare(
        "everything",
        "notify",
        ("id",),
        delivery="outbox",
        operations=("INSERT", "UPDATE"),
        when="NEW.c_int <> OLD.c_int",
    )
    with pytest.raises(TriggerDefinitionError, match="reads OLD, which the INSERT trigger"):
        installed(reader_db, old_on_insert)
    # What only the server can tell (a function that does not exist) fails the CREATE,
    # with the declaration's name in the error, and leaves nothing installed.
    bad_sql = LambdaTrigger.declare(
        "everything",
        "notify",
        ("id",),
        delivery="outbox",
        operations=("UPDATE",),
        when="NEW.c_int >>> 2",
    )
    with pytest.raises(TriggerDefinitionError, match="everything_au_notify"):
        installed(reader_db, bad_sql)
    with reader_db.connect() as connection:
        assert read_triggers(connection) == []
    with pytest.raises(TriggerDefinitionError, match="columns_changed applies to UPDATE"):
        LambdaTrigger.declare("everything", "notify", ("id",), columns_changed=("id",))
    with pytest.raises(TriggerDefinitionError, match="text 3 has no UPDATE"):
        LambdaTrigger(
            "everything",
            "notify",
            ("id",),
            delivery="outbox",
            template_version=3,
            operations=("UPDATE",),
        )


def test_a_replacement_of_several_installed_forms_renders_as_python_that_makes_them():
    from migrations.lambda_trigger import InstalledText
    from migrations.trigger_compare import render_trigger

    (status,) = [t for t in CHANGE_DECLARATIONS if t.name == "everything_status"]
    forms = (
        status,
        InstalledText("everything_au_x", "everything", "SET @x = 'it''s'", event="UPDATE"),
    )
    text = render_trigger(forms)
    assert "when=" in text and "columns_changed=('c_varchar',)" in text
    assert "operations=('UPDATE',)" in text
    assert eval(text, {"LambdaTrigger": LambdaTrigger, "InstalledText": InstalledText}) == forms
    # An INSERT-only declaration is written as before: no operations=, when= or columns_changed=.
    plain = render_trigger(LambdaTrigger("t", "notify", ("id",)))
    assert "operations" not in plain and "when" not in plain
