"""Idempotency keys for the rows the ingest path writes (customers, orders).

A UNIQUE key, written in the same statement as the row: a redelivered or replayed queue
message finds its key and changes nothing. ASCII, compared byte for byte (ascii_bin): a
key differing only in case is another key.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("customers", "orders")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column(
                "idempotency_key",
                mysql.VARCHAR(128, charset="ascii", collation="ascii_bin"),
                nullable=True,
            ),
        )
        op.create_unique_constraint(f"uq_{table}_idempotency_key", table, ["idempotency_key"])


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_constraint(f"uq_{table}_idempotency_key", table, type_="unique")
        op.drop_column(table, "idempotency_key")
