"""alembic upgrade head / downgrade base / upgrade head, on a real server."""

import re
from pathlib import Path

from alembic import command
from alembic.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes.update(database_url=url, skip_logging_config=True)
    return config


def schema_snapshot(database) -> dict:
    """Tables, triggers and routines of the database, alembic's own table left out."""
    snapshot = {}
    with database.connect().cursor() as cursor:
        cursor.execute("SHOW FULL TABLES")
        for table, _kind in cursor.fetchall():
            if table == "alembic_version":
                continue
            cursor.execute(f"SHOW CREATE TABLE `{table}`")
            snapshot[f"table {table}"] = re.sub(r" AUTO_INCREMENT=\d+", "", cursor.fetchone()[1])
        cursor.execute(
            "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, "
            "ACTION_STATEMENT, DEFINER FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE()"
        )
        for row in cursor.fetchall():
            snapshot[f"trigger {row[0]}"] = row[1:]
        cursor.execute(
            "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION "
            "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"
        )
        for row in cursor.fetchall():
            snapshot[f"routine {row[0]}"] = row[1:]
    return snapshot


def test_upgrade_downgrade_upgrade_leaves_the_schema_identical(database):
    config = alembic_config(database.url)
    before = schema_snapshot(database)

    command.upgrade(config, "head")
    upgraded = schema_snapshot(database)
    added = set(upgraded) - set(before)
    assert added == {
        "table aurora_events_outbox",
        "table aurora_events_outbox_holds",
        "table ingest_conflicts",
        "table customers",
        "table orders",
        "table customer_feedback",
        "trigger customer_feedback_ai_notify",
        "trigger customer_feedback_ai_email",
        "trigger orders_ai_notify",
        "trigger customers_ai_notify",
        "trigger orders_au_notify",
        "trigger customers_au_notify",
        "trigger customers_ad_notify",
    }

    command.downgrade(config, "base")
    assert schema_snapshot(database) == before  # exactly what upgrade added is gone

    command.upgrade(config, "head")
    assert schema_snapshot(database) == upgraded


def test_each_revision_downgrades_to_the_previous_state(database):
    config = alembic_config(database.url)
    command.upgrade(config, "0001")
    after_first = schema_snapshot(database)
    command.upgrade(config, "0002")
    command.downgrade(config, "0001")
    assert schema_snapshot(database) == after_first


def test_the_idempotency_scope_revision_downgrades_to_0006_exactly(database):
    config = alembic_config(database.url)
    command.upgrade(config, "0006")
    at_0006 = schema_snapshot(database)
    command.upgrade(config, "0007")
    upgraded = schema_snapshot(database)
    assert "table ingest_conflicts" in upgraded
    for table in ("customers", "orders"):
        assert "`idempotency_body_hash` char(64)" in upgraded[f"table {table}"]
        assert "idempotency_body_hash" not in at_0006[f"table {table}"]
    command.downgrade(config, "0006")
    assert schema_snapshot(database) == at_0006
