"""The outbox orders each row's events: an ``ordering_key`` column and the index its claim
reads (``sql/outbox/add_ordering_key.sql``).

An event with a key (a hash of its table and primary key: ``sql/outbox/ordering_key.sql``)
reaches its target after every earlier event of the same key and target was delivered or
parked: the relay claims only each key's oldest waiting event
(``sql/outbox/claim_due_ordered.sql``), so a failed event holds back its row's later
events and no other row's. Events without a key (every event written before this
revision, and by triggers that do not write one) are delivered as before. The landed
trigger texts write no key; the trigger texts of change events will.

The relay asks at each run whether the column exists, so it follows an upgrade or a
downgrade without a redeploy. Adding a nullable last column is instant on MySQL 8 and
the index is built online; events may wait meanwhile.

Downgrade: the index and the column go, the table is 0004's again exactly; waiting events
stay, and are delivered unordered.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

import sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql.render("outbox/add_ordering_key.sql"):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql.render("outbox/drop_ordering_key.sql"):
        op.execute(statement)
