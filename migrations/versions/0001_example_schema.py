"""Example schema from the source documents: customers, orders, customer feedback.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}
NOW = sa.text("CURRENT_TIMESTAMP(6)")


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column(
            "created_at", sa.dialects.mysql.DATETIME(fsp=6), nullable=False, server_default=NOW
        ),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="placed"),
        sa.Column(
            "created_at", sa.dialects.mysql.DATETIME(fsp=6), nullable=False, server_default=NOW
        ),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "customer_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_name", sa.String(255), nullable=False),
        sa.Column("customer_email", sa.String(320), nullable=True),
        # MEDIUMTEXT: TEXT holds 64 KB of bytes, too little for long feedback in utf8mb4.
        sa.Column("feedback", sa.dialects.mysql.MEDIUMTEXT, nullable=False),
        sa.Column("rating", sa.SmallInteger, nullable=True),
        sa.Column(
            "created_at", sa.dialects.mysql.DATETIME(fsp=6), nullable=False, server_default=NOW
        ),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("customer_feedback")
    op.drop_table("orders")
    op.drop_table("customers")
