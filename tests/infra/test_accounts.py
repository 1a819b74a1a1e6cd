"""Two database accounts, as the Deploy section asks: the migration account defines the
triggers; the drain's account writes the rows of its tables and can do nothing else."""

import json

import boto3
import pymysql
import pytest

from functions.common.database import connect
from infra.local.stack import APP_DATABASE, DRAIN_USER


@pytest.fixture(scope="module")
def drain(migrated_stack):
    """The drain's connection, once the stack's database is migrated and granted."""
    connection = connect(migrated_stack.drain_settings(APP_DATABASE))
    yield connection
    connection.close()


def test_the_drains_secret_holds_the_runtime_account_not_the_definer(stack):
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=stack.deployment.database_secret_id
    )
    assert json.loads(secret["SecretString"])["username"] == DRAIN_USER


def test_the_drain_account_reads_and_inserts_its_rows(drain):
    with drain.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders (customer_id, amount, currency, idempotency_key) "
            "VALUES (77, 1.50, 'EUR', 'accounts-test-1')"
        )
        cursor.execute("SELECT amount FROM orders WHERE idempotency_key = 'accounts-test-1'")
        assert [str(amount) for (amount,) in cursor.fetchall()] == ["1.50"]


@pytest.mark.parametrize(
    ("statement", "errno"),
    [
        ("DROP TRIGGER orders_ai_notify", 1142),
        ("CREATE TABLE stolen (id INT)", 1142),
        ("ALTER TABLE orders ADD COLUMN x INT", 1142),
        ("UPDATE orders SET amount = 0.01", 1142),
        ("DELETE FROM orders", 1142),
        ("SELECT * FROM customer_feedback", 1142),
        ("INSERT INTO customer_feedback (customer_name, feedback) VALUES ('x', 'y')", 1142),
        ("SELECT lambda_async('aurora-events-notify', '{}')", 1370),
        ("GRANT SELECT ON orders TO 'drain'@'%'", 1142),
    ],
    ids=[
        "drop-trigger",
        "create-table",
        "alter-table",
        "update-rows",
        "delete-rows",
        "read-another-table",
        "write-another-table",
        "invoke-lambda",
        "grant-onwards",
    ],
)
def test_the_drain_account_can_do_nothing_else(drain, statement, errno):
    with pytest.raises(pymysql.err.MySQLError) as refused, drain.cursor() as cursor:
        cursor.execute(statement)
    assert refused.value.args[0] == errno, refused.value
