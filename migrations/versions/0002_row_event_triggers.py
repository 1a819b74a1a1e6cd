"""Row-event triggers: new feedback goes to SNS and email; new orders and customers to SNS.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from migrations.lambda_trigger import LambdaTrigger

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FEEDBACK_COLUMNS = ("id", "customer_name", "customer_email", "feedback", "rating", "created_at")

TRIGGERS = (
    LambdaTrigger(table="customer_feedback", function="notify", columns=FEEDBACK_COLUMNS),
    LambdaTrigger(table="customer_feedback", function="email", columns=FEEDBACK_COLUMNS),
    LambdaTrigger(
        table="orders",
        function="notify",
        columns=("id", "customer_id", "amount", "currency", "status", "created_at"),
    ),
    LambdaTrigger(
        table="customers",
        function="notify",
        columns=("id", "name", "email", "phone", "created_at"),
    ),
)


def upgrade() -> None:
    for trigger in TRIGGERS:
        op.create_lambda_trigger(trigger)


def downgrade() -> None:
    for trigger in reversed(TRIGGERS):
        op.drop_lambda_trigger(trigger)
