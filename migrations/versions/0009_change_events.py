"""Change events on the example schema: orders notify on INSERT and UPDATE, customers on
INSERT, UPDATE and DELETE, through the outbox's text 4
(``sql/triggers/outbox_v4_insert.sql``, ``_update.sql``, ``_delete.sql``): the INSERT
events as before (schema 1), UPDATE events with the row before and after and the changed
columns, DELETE events with the row before (schema 2: ``functions/common/events.py``),
each outbox row with its row's ordering key (revision 0008), so the relay delivers each
row's events in commit order. An UPDATE that changes nothing carried sends nothing.

Each table's swap runs under ``LOCK TABLES ... WRITE`` (replace_lambda_trigger: 0006's
INSERT trigger dropped, text 4's triggers created), so every row gets exactly one INSERT
event, from one text or the other. Events waiting in the outbox are untouched (those
written before have no key: delivered unordered, as before). Downgrade: 0006's INSERT
triggers back, exactly; the UPDATE and DELETE triggers gone.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

from migrations.lambda_trigger import LambdaTrigger

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CUSTOMER_COLUMNS = ("id", "name", "email", "phone", "created_at")
ORDER_COLUMNS = ("id", "customer_id", "amount", "currency", "status", "created_at")

# As 0006 left them (landed revisions are never edited: these restate its triggers).
OUTBOX_V3 = (
    LambdaTrigger(
        table="customers",
        function="notify",
        columns=CUSTOMER_COLUMNS,
        delivery="outbox",
        template_version=3,
    ),
    LambdaTrigger(
        table="orders",
        function="notify",
        columns=ORDER_COLUMNS,
        delivery="outbox",
        template_version=3,
    ),
)
CHANGE_EVENTS = (
    LambdaTrigger(
        table="customers",
        function="notify",
        columns=CUSTOMER_COLUMNS,
        delivery="outbox",
        template_version=4,
        operations=("INSERT", "UPDATE", "DELETE"),
    ),
    LambdaTrigger(
        table="orders",
        function="notify",
        columns=ORDER_COLUMNS,
        delivery="outbox",
        template_version=4,
        operations=("INSERT", "UPDATE"),
    ),
)


def upgrade() -> None:
    for new, old in zip(CHANGE_EVENTS, OUTBOX_V3, strict=True):
        op.replace_lambda_trigger(new, replaces=old)


def downgrade() -> None:
    for new, old in zip(OUTBOX_V3, CHANGE_EVENTS, strict=True):
        op.replace_lambda_trigger(new, replaces=old)
