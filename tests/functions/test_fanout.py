"""Rows inserted into migrated tables reach SNS and SES exactly once each (whole stack)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from functions.email.messages import event_from_body
from infra.local.inspect import receive_notifications, sent_emails
from tests.support import settled_invocations

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_each_inserted_row_reaches_sns_and_ses_once(stack, database, admin):
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes.update(database_url=database.url, skip_logging_config=True)
    # 0003: every trigger direct. From 0004 orders deliver through the outbox, whose relay
    # serves the stack's own database (tests/infra/test_outbox_path.py covers that path).
    command.upgrade(config, "0003")

    feedback = [("Ann", "Loved it"), ('Bob "B"', "Meh\nreally"), ("Cy 😀", "x" * 5000)]
    with database.connect().cursor() as cursor:
        cursor.executemany(
            "INSERT INTO customer_feedback (customer_name, feedback) VALUES (%s, %s)", feedback
        )
        cursor.execute("INSERT INTO orders (customer_id, amount, currency) VALUES (1, 10.5, 'EUR')")
    # 3 feedback rows x (notify + email) + 1 order x notify
    rows = settled_invocations(admin, database.name, 7)
    # Each at its first attempt: the runtime's retries would hide a handler that fails once.
    assert [(row["status"], row["attempts"]) for row in rows] == [("succeeded", 1)] * 7

    notes = [n.event for n in receive_notifications(stack.tail_queue_url, wait_seconds=1)]
    mine = sorted(
        ((e["table"], e["row"]["id"]) for e in notes if e["database"] == database.name),
    )
    assert mine == [
        ("customer_feedback", 1),
        ("customer_feedback", 2),
        ("customer_feedback", 3),
        ("orders", 1),
    ]
    feedback_events = {
        e["row"]["id"]: e
        for e in notes
        if e["database"] == database.name and e["table"] == "customer_feedback"
    }
    assert [
        (feedback_events[i]["row"]["customer_name"], feedback_events[i]["row"]["feedback"])
        for i in (1, 2, 3)
    ] == feedback
    orders = [e for e in notes if e["database"] == database.name and e["table"] == "orders"]
    assert orders[0]["row"]["amount"] == "10.50"

    emails = [event_from_body(e["body"]) for e in sent_emails(stack.aws.endpoint_url)]
    mine = sorted(e["row"]["id"] for e in emails if e["database"] == database.name)
    assert mine == [1, 2, 3]
