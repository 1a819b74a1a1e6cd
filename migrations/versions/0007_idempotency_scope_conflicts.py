"""Scoped idempotency keys: the body's hash stored with each key, and the conflicts table.

The ingest path now stores each row under its key in the resource's scope
(:func:`functions.common.resources.stored_key`) with the SHA-256 of the request's
canonical body (``idempotency_body_hash``). The drain compares a queued request's hash
with the stored one: equal is a resend (skipped), different is a conflict, recorded in
``ingest_conflicts`` (``sql/ingest/create_conflicts_table.sql``) for an operator. Rows
stored before keep a NULL hash: nothing to compare, a later message under their key is
skipped as before. ASCII, compared byte for byte, like the key.

Downgrade: the table and the columns are dropped, recorded conflicts with them (list them
first: ``aurora-events conflicts``).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("customers", "orders")
COLUMN = "idempotency_body_hash"


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column(
                COLUMN, mysql.CHAR(64, charset="ascii", collation="ascii_bin"), nullable=True
            ),
        )
    for statement in sql.render("ingest/create_conflicts_table.sql"):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql.render("ingest/drop_conflicts_table.sql"):
        op.execute(statement)
    for table in reversed(TABLES):
        op.drop_column(table, COLUMN)
