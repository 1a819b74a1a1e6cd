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
