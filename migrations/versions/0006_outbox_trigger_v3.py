"""The outbox triggers of 0005 (customers, orders) move to the outbox trigger's text
version 3 (``sql/triggers/outbox_after_insert_v3.sql``): the same outbox rows and the same
events as version 2, and one doorbell for every connection to the database. Version 2
rang the relay at most once per connection per second, so 50 connections committing an
order a second each made 50 relay calls a second; version 3 rings at most once per
second for them all (the first connection to look in each second of the clock, through a
user-level lock: no table, no row lock, no privilege, nothing waits).

Each swap runs under ``LOCK TABLES ... WRITE`` (replace_lambda_trigger), so every row gets
exactly one event, from one text or the other. Downgrade: the 0005 text back, exactly.

Revision ID: 0006
Revises: 0005
"""

from dataclasses import replace

from alembic import op

from migrations.lambda_trigger import LambdaTrigger

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# As in 0005 (landed revisions are never edited: these restate its outbox triggers).
OUTBOX_V2 = (
    LambdaTrigger(
        table="customers",
        function="notify",
        columns=("id", "name", "email", "phone", "created_at"),
        delivery="outbox",
        template_version=2,
    ),
    LambdaTrigger(
        table="orders",
        function="notify",
        columns=("id", "customer_id", "amount", "currency", "status", "created_at"),
        delivery="outbox",
        template_version=2,
    ),
)
OUTBOX_V3 = tuple(replace(trigger, template_version=3) for trigger in OUTBOX_V2)


def upgrade() -> None:
    for new, old in zip(OUTBOX_V3, OUTBOX_V2, strict=True):
        op.replace_lambda_trigger(new, replaces=old)


def downgrade() -> None:
    for new, old in zip(OUTBOX_V2, OUTBOX_V3, strict=True):
        op.replace_lambda_trigger(new, replaces=old)
