"""The example schema as of head, declared once: its tables (SQLAlchemy ``MetaData``) and
its Lambda triggers. ``env.py`` gives both to Alembic, so ``alembic check`` compares the
database with them and ``alembic revision --autogenerate`` writes the revision that makes
it so (tables by Alembic, triggers by :mod:`migrations.trigger_compare`).

Change the schema here, then autogenerate the revision; landed revisions are never edited.
The tables are what revisions 0001, 0003, 0004, 0008 and 0010 (the outbox and its hold
counter, ``sql/outbox/``) and 0007 (``sql/ingest/create_conflicts_table.sql``) create;
the triggers what 0002 and 0009 leave (customer_feedback's direct triggers keep text 1:
direct text 2 adds only conditions and other operations, which they do not use).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from migrations.lambda_trigger import LambdaTrigger

metadata = sa.MetaData()

_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}
_BIN_OPTIONS = {**_OPTIONS, "mysql_collate": "utf8mb4_bin"}
_NOW = sa.text("CURRENT_TIMESTAMP(6)")


def _ascii(length: int, kind=mysql.VARCHAR):
    return kind(length, charset="ascii", collation="ascii_bin")


customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("phone", sa.String(40), nullable=True),
    sa.Column("created_at", mysql.DATETIME(fsp=6), nullable=False, server_default=_NOW),
    sa.Column("idempotency_key", _ascii(128), nullable=True),
    sa.Column("idempotency_body_hash", _ascii(64, mysql.CHAR), nullable=True),
    sa.UniqueConstraint("idempotency_key", name="uq_customers_idempotency_key"),
    **_OPTIONS,
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="placed"),
    sa.Column("created_at", mysql.DATETIME(fsp=6), nullable=False, server_default=_NOW),
    sa.Column("idempotency_key", _ascii(128), nullable=True),
    sa.Column("idempotency_body_hash", _ascii(64, mysql.CHAR), nullable=True),
    sa.UniqueConstraint("idempotency_key", name="uq_orders_idempotency_key"),
    **_OPTIONS,
)

customer_feedback = sa.Table(
    "customer_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer_name", sa.String(255), nullable=False),
    sa.Column("customer_email", sa.String(320), nullable=True),
    sa.Column("feedback", mysql.MEDIUMTEXT, nullable=False),
    sa.Column("rating", sa.SmallInteger, nullable=True),
    sa.Column("created_at", mysql.DATETIME(fsp=6), nullable=False, server_default=_NOW),
    **_OPTIONS,
)

# sql/outbox/create_outbox_table.sql (op.create_event_outbox()).
aurora_events_outbox = sa.Table(
    "aurora_events_outbox",
    metadata,
    sa.Column("sequence", mysql.BIGINT(unsigned=True), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.CHAR(36), nullable=False),
    sa.Column("target_function", sa.String(512), nullable=False),
    sa.Column("payload", mysql.LONGTEXT, nullable=False),
    sa.Column("created_at", mysql.DATETIME(fsp=6), nullable=False),
    sa.Column("attempts", mysql.INTEGER(unsigned=True), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", mysql.DATETIME(fsp=6), nullable=False),
    sa.Column("delivered_at", mysql.DATETIME(fsp=6), nullable=True),
    sa.Column("parked_at", mysql.DATETIME(fsp=6), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # Revision 0008 (sql/outbox/add_ordering_key.sql): per-row order.
    sa.Column("ordering_key", mysql.BINARY(16), nullable=True),
    sa.Index("outbox_pending", "delivered_at", "parked_at", "sequence"),
    sa.Index("outbox_key_pending", "delivered_at", "parked_at", "ordering_key", "sequence"),
    **_BIN_OPTIONS,
)

# sql/outbox/create_hold_counter.sql (revision 0010): one row, the relays' hold count and
# the greatest sequence held.
aurora_events_outbox_holds = sa.Table(
    "aurora_events_outbox_holds",
    metadata,
    sa.Column("id", mysql.TINYINT(unsigned=True), primary_key=True, autoincrement=False),
    sa.Column("holds", sa.BigInteger, nullable=False),
    sa.Column("held_up_to", mysql.BIGINT(unsigned=True), nullable=False),
    **_BIN_OPTIONS,
)

# sql/ingest/create_conflicts_table.sql (revision 0007).
ingest_conflicts = sa.Table(
    "ingest_conflicts",
    metadata,
    sa.Column("id", mysql.BIGINT(unsigned=True), primary_key=True, autoincrement=True),
    sa.Column("recorded_at", mysql.DATETIME(fsp=6), nullable=False, server_default=_NOW),
    sa.Column("resource", _ascii(64), nullable=False),
    sa.Column("idempotency_key", _ascii(128), nullable=False),
    sa.Column("client_key", _ascii(128), nullable=True),
    sa.Column("principal", sa.String(2048), nullable=True),
    sa.Column("stored_body_hash", _ascii(64, mysql.CHAR), nullable=False),
    sa.Column("body_hash", _ascii(64, mysql.CHAR), nullable=False),
    sa.Column("message_id", _ascii(128), nullable=False),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("data", mysql.MEDIUMTEXT, nullable=False),
    sa.UniqueConstraint("message_id", name="uq_ingest_conflicts_message_id"),
    sa.Index("ingest_conflicts_recorded_at", "recorded_at"),
    **_BIN_OPTIONS,
)

_FEEDBACK_COLUMNS = ("id", "customer_name", "customer_email", "feedback", "rating", "created_at")

# New triggers are declared with LambdaTrigger.declare: the delivery's best text unless
# told otherwise (the revisions autogenerate writes name it explicitly).
triggers: tuple[LambdaTrigger, ...] = (
    LambdaTrigger.declare(
        "customer_feedback", "notify", _FEEDBACK_COLUMNS, delivery="direct", template_version=1
    ),
    LambdaTrigger.declare(
        "customer_feedback", "email", _FEEDBACK_COLUMNS, delivery="direct", template_version=1
    ),
    # Revision 0009: change events (outbox text 4, each row's events in order).
    LambdaTrigger.declare(
        "customers",
        "notify",
        ("id", "name", "email", "phone", "created_at"),
        delivery="outbox",
        operations=("INSERT", "UPDATE", "DELETE"),
    ),
    LambdaTrigger.declare(
        "orders",
        "notify",
        ("id", "customer_id", "amount", "currency", "status", "created_at"),
        delivery="outbox",
        operations=("INSERT", "UPDATE"),
    ),
)
