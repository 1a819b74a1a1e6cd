"""The tables the ingest path writes (customers, orders) deliver their events through the
outbox: an event commits or rolls back with its row, and a broken Lambda link no longer
fails the drain's INSERTs. customer_feedback stays direct, so both modes are in use.

Downgrade: the triggers go back to direct first (no new event enters the outbox), then
the outbox is dropped. ``drop_event_outbox`` refuses while events wait in it (they would
be lost), so a downgrade with undelivered events stops there, with the triggers already
direct and the outbox still in place: the relay keeps delivering what is in it, and
running the downgrade again finishes once it is empty. Parked events are dropped with the
table; replay or inspect them first (``aurora-events outbox``).

Revision ID: 0004
Revises: 0003
"""

from dataclasses import replace

from alembic import op

from migrations.lambda_trigger import LambdaTrigger

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# As in 0002 (landed revisions are never edited: these restate its triggers).
DIRECT = (
    LambdaTrigger(
        table="customers",
        function="notify",
        columns=("id", "name", "email", "phone", "created_at"),
    ),
    LambdaTrigger(
        table="orders",
        function="notify",
        columns=("id", "customer_id", "amount", "currency", "status", "created_at"),
    ),
)
OUTBOX = tuple(replace(trigger, delivery="outbox") for trigger in DIRECT)


def upgrade() -> None:
    op.create_event_outbox()
    for new, old in zip(OUTBOX, DIRECT, strict=True):
        op.replace_lambda_trigger(new, replaces=old)


def downgrade() -> None:
    for new, old in zip(DIRECT, OUTBOX, strict=True):
        op.replace_lambda_trigger(new, replaces=old)
    op.drop_event_outbox()
