import pytest

from migrations.row_event_sql import create_outbox_statements


@pytest.fixture
def outbox(database):
    """The test's database with the outbox table, written directly (no trigger)."""
    with database.connect().cursor() as cursor:
        for statement in create_outbox_statements():
            cursor.execute(statement)
    return database
