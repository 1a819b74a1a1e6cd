"""``alembic upgrade head --sql``: the script, triggers included, applied to a fresh
database leaves it as the online upgrade does; what offline mode cannot know is an error
that names it."""

import io
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

import sql
from functions.common.database import connect, parse_database_url
from migrations.offline import OfflineRenderingError
from tests.migrations.test_upgrade_downgrade import schema_snapshot

REPO_ROOT = Path(__file__).resolve().parents[2]


class Schema:
    def __init__(self, name, url):
        self.name, self.url = name, url

    def connect(self, **options):
        return connect(parse_database_url(self.url), **options)


@pytest.fixture(scope="module")
def schemas(stack):
    """Two fresh schemas: one for the offline script, one migrated online."""
    return [Schema(name, stack.create_database(name)) for name in ("offline_sql", "online")]


@pytest.fixture
def arns(stack, monkeypatch):
    """The ARNs the online upgrade resolves (the aliases live), given as offline needs them."""
    for function in ("notify", "email", "relay"):
        variable = f"AURORA_EVENTS_FUNCTION_ARN_{function.upper()}"
        monkeypatch.setenv(variable, stack.resources.live_arns[function])


def config_for(schema, output=None) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"), output_buffer=output)
    config.attributes.update(database_url=schema.url, skip_logging_config=True)
    return config


def offline_script(schema, revisions="head") -> str:
    output = io.StringIO()
    command.upgrade(config_for(schema, output), revisions, sql=True)
    return output.getvalue()


def test_the_sql_script_applied_to_a_fresh_database_matches_the_online_upgrade(schemas, arns):
    offline, online = schemas
    script = offline_script(offline)
    assert "DELIMITER $$" in script and "CREATE DEFINER = CURRENT_USER TRIGGER" in script
    assert script.lstrip().startswith("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,")

    connection = offline.connect()
    try:
        with connection.cursor() as cursor:
            for statement in sql.split_statements(script):
                cursor.execute(statement)
        connection.commit()
    finally:
        connection.close()
    command.upgrade(config_for(online), "head")

    applied, migrated = schema_snapshot(offline), schema_snapshot(online)
    assert "trigger orders_ai_notify" in applied and "table aurora_events_outbox" in applied
    assert applied == migrated
    with offline.connect().cursor() as cursor:
        cursor.execute("SELECT version_num FROM alembic_version")
        assert cursor.fetchall() == (
            (ScriptDirectory.from_config(config_for(offline)).get_current_head(),),
        )


def test_an_arn_variable_unset_offline_is_named(schemas, monkeypatch):
    for function in ("NOTIFY", "EMAIL", "RELAY"):
        monkeypatch.delenv(f"AURORA_EVENTS_FUNCTION_ARN_{function}", raising=False)
    with pytest.raises(OfflineRenderingError, match="set AURORA_EVENTS_FUNCTION_ARN_NOTIFY to"):
        offline_script(schemas[0])


def test_a_table_the_offline_run_did_not_create_is_named(schemas, arns):
    with pytest.raises(OfflineRenderingError, match="the columns of table 'customers'"):
        offline_script(schemas[0], "0005:head")
