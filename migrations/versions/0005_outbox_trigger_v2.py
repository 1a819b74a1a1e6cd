"""The outbox triggers of 0004 (customers, orders) move to the outbox trigger's text
version 2 (``sql/triggers/outbox_after_insert_v2.sql``): the same outbox rows and the same
events, for less per inserted row. Version 1 copied each event into a LONGTEXT variable
and parsed it again (JSON_EXTRACT) for its id; version 2 makes the id once and writes it
into the event and the outbox row. ``make bench``: about a fifth less time per row at
1,000-row statements (README, "Two delivery modes, side by side").

Each swap runs under ``LOCK TABLES ... WRITE`` (replace_lambda_trigger), so every row gets
exactly one event, from one text or the other. Downgrade: the 0004 text back, exactly.

Revision ID: 0005
Revises: 0004
"""

from dataclasses import replace

from alembic import op

from migrations.lambda_trigger import LambdaTrigger

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# As in 0004 (landed revisions are never edited: these restate its outbox triggers).
OUTBOX_V1 = (
    LambdaTrigger(
        table="customers",
        function="notify",
        columns=("id", "name", "email", "phone", "created_at"),
        delivery="outbox",
    ),
    LambdaTrigger(
        table="orders",
        function="notify",
        columns=("id", "customer_id", "amount", "currency", "status", "created_at"),
        delivery="outbox",
    ),
)
OUTBOX_V2 = tuple(replace(trigger, template_version=2) for trigger in OUTBOX_V1)


def upgrade() -> None:
    for new, old in zip(OUTBOX_V2, OUTBOX_V1, strict=True):
        op.replace_lambda_trigger(new, replaces=old)


def downgrade() -> None:
    for new, old in zip(OUTBOX_V1, OUTBOX_V2, strict=True):
        op.replace_lambda_trigger(new, replaces=old)
