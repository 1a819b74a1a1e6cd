import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, pool

import migrations.lambda_trigger  # noqa: F401  registers the operations
from functions.common.database import parse_database_url


@pytest.fixture
def run_ops(database):
    """Run Alembic operations against the test database: ``run_ops(lambda op: ...)``."""
    engine = create_engine(parse_database_url(database.url).url(), poolclass=pool.NullPool)

    def run(action):
        with engine.begin() as connection:
            return action(Operations(MigrationContext.configure(connection)))

    yield run
    engine.dispose()


@pytest.fixture
def things(database):
    """Table ``things`` (id, name) in the test database."""
    with database.connect().cursor() as cursor:
        cursor.execute("CREATE TABLE things (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT)")
    return database


@pytest.fixture
def relay_arn(monkeypatch, test_functions):
    """The doorbell rings a test function that echoes (the relay is not built here)."""
    arn = test_functions.arns["test-echo"]
    monkeypatch.setenv("AURORA_EVENTS_FUNCTION_ARN_RELAY", arn)
    return arn
