"""The outbox's hold counter: a one-row table, ``aurora_events_outbox_holds``
(``sql/outbox/create_hold_counter.sql``), so that a relay looks for events held behind its
own only when some claim held any.

On an ordered outbox (revision 0008) a claim holds an event whose row has an earlier event
waiting elsewhere (another relay's lease, a backoff), and the relay that records that
earlier event makes the held ones due (``sql/outbox/promote.sql``). Until this revision
every record looked for them, one index dive per row it finished: a lone relay, which
never holds anything, paid some 8% of its throughput for it, and on busy rows every later
waiting event of the row was read and locked again at each record. With the counter a
claim that may hold counts itself first (``count_holds.sql``), and a record promotes only
if the count moved since its claim (``holds_settled.sql``, ``promote_held.sql``).

The relay asks at each run whether the counter is there and usable by its account: a
relay keeps working (promoting on every record, as before) until the relay's grants are
given again for the new table (``aurora-events grant --relay-user ...``; the doctor's
relay link names them). Creating a small table takes no lock on the outbox; events may wait
meanwhile.

Downgrade: the table goes; relays promote on every record again.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

import sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql.render("outbox/create_hold_counter.sql"):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql.render("outbox/drop_hold_counter.sql"):
        op.execute(statement)
