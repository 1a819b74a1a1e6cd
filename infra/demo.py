"""``make demo``: an INSERT becomes an SNS notification and an email, end to end, locally.

Starts a private local stack, migrates, inserts rows with hard values, shows every
notification and email as it arrives, shows what happens to the event of a rolled-back
insert, then an UPDATE and a DELETE arriving with their images (revision 0009's change
events), and exits 0 only if every committed row was delivered exactly once, intact.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import boto3

from functions.common.database import connect, parse_database_url
from functions.email.messages import event_from_body
from functions.relay.outbox import outbox_status
from infra.aws import doctor
from infra.aws.queue_operations import queue_depths
from infra.catalog import LIVE_ALIAS
from infra.local import emulation
from infra.local.inspect import receive_notifications, sent_emails
from infra.local.stack import APP_DATABASE, LocalStack, StackSettings

# The case is 10,000 rows; the demo shows 1,000 to stay short
# (tests/infra/test_outbox_path.py delivers 10,000 rows x 2 targets).
BULK_ORDERS = 1_000
# The relay's batch to notify in the demo (see run_demo for why it is small).
DEMO_EVENTS_PER_INVOCATION = 100
LONG_TEXT = ("Sixty kilobytes of feedback. " * 2200)[:61_440]

FEEDBACK_ROWS = [
    {
        "customer_name": "Sample Customer",
        "customer_email": "sample@example.com",
        "feedback": "Good job guys!",
        "rating": 5,
    },
    {
        "customer_name": 'O\'Brien "the quote"',
        "customer_email": None,
        "feedback": 'She said "it\'s fine" -- then DROP TABLE orders; /* not really */',
        "rating": 3,
    },
    {
        "customer_name": "Back\\slash",
        "customer_email": "back\\slash@example.com",
        "feedback": "C:\\path\\to\\file and a trailing backslash \\",
        "rating": None,
    },
    {
        "customer_name": "Newline\nName",
        "customer_email": None,
        "feedback": "line one\nline two\r\nline three\ttabbed",
        "rating": 1,
    },
    {
        "customer_name": "이모지 사용자 😀",
        "customer_email": "emoji@example.com",
        "feedback": "좋아요 👍🏽 — naïve café, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, \u200b zero-width",
        "rating": 4,
    },
    {"customer_name": "Long Text", "customer_email": None, "feedback": LONG_TEXT, "rating": 2},
]
ORDER_ROWS = [
    {"customer_id": 1, "amount": Decimal("12.50"), "currency": "USD", "status": "placed"},
    {"customer_id": 2, "amount": Decimal("99999.99"), "currency": "KRW", "status": "placed"},
]
CUSTOMER_ROWS = [
    {"name": 'Kim "Jay" O\'Neil', "email": "jay@example.com", "phone": None},
]


@dataclass
class InsertedRow:
    table: str
    id: int
    values: dict
    wants_email: bool


def expected_value(value):
    """How a Python value appears in the event (see migrations/row_event_sql.py)."""
    return str(value) if isinstance(value, Decimal) else value


def insert_rows(connection, table: str, rows: list[dict], wants_email: bool) -> list[InsertedRow]:
    inserted = []
    with connection.cursor() as cursor:
        for values in rows:
            columns = ", ".join(f"`{column}`" for column in values)
            marks = ", ".join(["%s"] * len(values))
            cursor.execute(
                f"INSERT INTO `{table}` ({columns}) VALUES ({marks})", list(values.values())
            )
            inserted.append(InsertedRow(table, cursor.lastrowid, values, wants_email))
    return inserted


def wait_until_settled(stack: LocalStack, timeout: float = 90) -> dict:
    admin = stack.db.connect_root()
    try:
        deadline = time.monotonic() + timeout
        while True:
            counts = emulation.event_call_counts(admin, APP_DATABASE)
            if not counts.get("pending") and not counts.get("running"):
                return counts
            if time.monotonic() > deadline:
                return counts
            time.sleep(0.2)
    finally:
        admin.close()


def describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:45]}... ({len(value)} chars)"


def row_problems(row: InsertedRow, event: dict | None) -> list[str]:
    if event is None:
        return ["no event"]
    problems = []
    if event["table"] != row.table or event["primary_key"] != {"id": row.id}:
        problems.append(f"event is for {event['table']} {event['primary_key']}")
    for column, value in row.values.items():
        if event["row"].get(column) != expected_value(value):
            problems.append(
                f"{column}: sent {describe(value)}, got {describe(event['row'].get(column))}"
            )
    return problems


def run_demo(base_dir: Path) -> int:
    print("== Starting the local stack (MariaDB + moto + emulated Aurora Lambda calls) ==")
    # Small relay batches keep each notify invocation far inside its 30 s timeout against
    # a local moto that the rest of the demo keeps busy (1,000 single publishes outlasted it
    # on a loaded machine, before notify used PublishBatch; not measured again since).
    settings = StackSettings(
        retry_delays=(0.5, 1.0),
        relay_environment={"RELAY_EVENTS_PER_INVOCATION": str(DEMO_EVENTS_PER_INVOCATION)},
    )
    with LocalStack(base_dir, settings) as stack:
        print(f"   database : {parse_database_url(stack.database_url())!r}")
        print(f"   AWS      : {stack.aws.endpoint_url} (moto)")

        print("== alembic upgrade head: example schema + Lambda triggers ==")
        stack.migrate()  # as the migration account; then the drain's account gets its tables

        connection = connect(parse_database_url(stack.database_url()))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1"
            )
            for name, table in cursor.fetchall():
                print(f"   trigger {name} on {table}")

        print("== Inserting rows (quotes, backslashes, newlines, emoji, NULLs, 60 KB) ==")
        rows = insert_rows(connection, "customer_feedback", FEEDBACK_ROWS, wants_email=True)
        rows += insert_rows(connection, "orders", ORDER_ROWS, wants_email=False)
        rows += insert_rows(connection, "customers", CUSTOMER_ROWS, wants_email=False)
        for row in rows:
            print(f"   INSERT {row.table} id={row.id}")

        print("== Rolled-back inserts: customer_feedback (direct) and orders (outbox) ==")
        connection.begin()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO customer_feedback (customer_name, feedback) VALUES (%s, %s)",
                ("Rolled Back", "this row is never committed"),
            )
            rolled_back_id = cursor.lastrowid
            cursor.execute(
                "INSERT INTO orders (customer_id, amount, currency) VALUES (3, 1.00, 'USD')"
            )
            rolled_back_order = cursor.lastrowid
        connection.rollback()
        print(f"   INSERT customer_feedback id={rolled_back_id}, then ROLLBACK")
        print(f"   INSERT orders id={rolled_back_order}, then ROLLBACK")

        counts = wait_until_settled(stack)
        wait_until_outbox_empty(connection)
        notifications = receive_notifications(stack.tail_queue_url, wait_seconds=1)
        emails = sent_emails(stack.aws.endpoint_url)

        print("== SNS notifications received by a subscribed queue ==")
        by_key: dict[tuple, list[dict]] = {}
        for notification in notifications:
            event = notification.event
            key = (event["table"], event["primary_key"].get("id"))
            by_key.setdefault(key, []).append(event)
            print(f"   SNS  {notification.subject}")
        print("== Emails sent through SES ==")
        emails_by_key: dict[tuple, list[dict]] = {}
        for email in emails:
            event = event_from_body(email["body"])
            emails_by_key.setdefault((event["table"], event["primary_key"]["id"]), []).append(event)
            print(f"   SES  to {', '.join(email['to'])}: {email['subject']}")

        print("== Checking every committed row ==")
        failures = []
        for row in rows:
            key = (row.table, row.id)
            got = by_key.get(key, [])
            problems = [] if len(got) == 1 else [f"{len(got)} SNS notifications"]
            problems += row_problems(row, got[0] if got else None)
            if row.wants_email:
                mails = emails_by_key.get(key, [])
                problems += [] if len(mails) == 1 else [f"{len(mails)} emails"]
                problems += [f"email: {p}" for p in row_problems(row, mails[0] if mails else None)]
            status = "ok, delivered once, intact" if not problems else "; ".join(problems)
            print(f"   {row.table} id={row.id}: {status}")
            if problems:
                failures.append(key)

        ghost = by_key.get(("customer_feedback", rolled_back_id), [])
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM customer_feedback WHERE id = %s", (rolled_back_id,)
            )
            exists = cursor.fetchone()[0]
        print("== The rolled-back insert ==")
        ghost_mail = emails_by_key.get(("customer_feedback", rolled_back_id), [])
        print(
            f"   row in table: {'yes' if exists else 'no'}; SNS notifications for it: "
            f"{len(ghost)}; emails: {len(ghost_mail)}"
        )
        print("   As on Aurora, lambda_async ran when the trigger fired, before the ROLLBACK: the")
        print("   event went out for a row that never existed (delivery 'direct').")
        ghost_order = by_key.get(("orders", rolled_back_order), [])
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM orders WHERE id = %s", (rolled_back_order,))
            order_exists = cursor.fetchone()[0]
        print(
            f"   orders (outbox): row in table: {'yes' if order_exists else 'no'}; "
            f"SNS notifications for it: {len(ghost_order)}"
        )
        print("   Delivery 'outbox': the event was written in the transaction and rolled back")
        print("   with the row; nothing was sent.")

        total_events = sum(counts.values())
        delivered = sum(len(v) for v in by_key.values()) + sum(
            len(v) for v in emails_by_key.values()
        )
        print("== Summary ==")
        print(f"   rows inserted (committed): {len(rows)}; rolled back: 1")
        print(
            f"   events fired: {total_events}  delivered: {counts.get('succeeded', 0)}  "
            f"failed: {counts.get('failed', 0)}"
        )
        print(
            f"   received: {len(notifications)} SNS notifications, {len(emails)} emails "
            f"({delivered} in all)"
        )
        ok = (
            not failures
            and not counts.get("failed")
            and exists == 0
            and order_exists == 0
            and not ghost_order
        )
        print(
            "   RESULT: "
            + (
                "every committed row delivered exactly once, intact"
                if ok
                else f"PROBLEMS with {failures or 'failed invocations'}"
            )
        )
        changes_ok = run_change_demo(stack, connection, rows)
        bulk_ok = run_bulk_demo(stack, connection)
        connection.close()
        ingest_ok = run_ingest_demo(stack)
        doctor_ok = run_doctor(stack)
        return 0 if ok and changes_ok and bulk_ok and ingest_ok and doctor_ok else 1


def run_change_demo(stack: LocalStack, connection, rows: list[InsertedRow]) -> bool:
    """An order's status changes (and once does not: a no-op UPDATE sends nothing), and a
    customer is deleted: each arrives on SNS with its images (outbox, schema version 2)."""
    print("== Change events: an UPDATE and a DELETE (delivery 'outbox', revision 0009) ==")
    order = next(row for row in rows if row.table == "orders")
    customer = next(row for row in rows if row.table == "customers")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE orders SET status = 'shipped' WHERE id = %s", (order.id,))
        cursor.execute("UPDATE orders SET status = 'shipped' WHERE id = %s", (order.id,))
        cursor.execute("DELETE FROM customers WHERE id = %s", (customer.id,))
    print(f"   UPDATE orders id={order.id}: status 'placed' -> 'shipped'")
    print(f"   UPDATE orders id={order.id}: status 'shipped' -> 'shipped' (changes nothing)")
    print(f"   DELETE customers id={customer.id}")
    wait_until_outbox_empty(connection)
    deadline = time.monotonic() + 30
    received: list = []
    while len(received) < 2 and time.monotonic() < deadline:
        received += receive_notifications(stack.tail_queue_url, wait_seconds=1)
    for notification in received:
        event = notification.event
        print(f"   SNS  {notification.subject}  (operation {event['operation']})")
        for image in ("before", "after"):
            if image in event:
                shown = {k: event[image][k] for k in ("status", "name") if k in event[image]}
                print(f"        {image}: {json.dumps(shown, ensure_ascii=False)}")
        if "changed" in event:
            print(f"        changed: {event['changed']}")
    operations = sorted((n.event["table"], n.event["operation"]) for n in received)
    update = next((n.event for n in received if n.event["operation"] == "UPDATE"), {})
    delete = next((n.event for n in received if n.event["operation"] == "DELETE"), {})
    ok = (
        operations == [("customers", "DELETE"), ("orders", "UPDATE")]
        and update.get("changed") == ["status"]
        and update["before"]["status"] == "placed"
        and update["after"]["status"] == "shipped"
        and delete["before"]["name"] == customer.values["name"]
    )
    print(
        "   RESULT: "
        + (
            "one UPDATE (before/after, changed) and one DELETE (before); the no-op sent nothing"
            if ok
            else f"PROBLEMS: received {operations}"
        )
    )
    return ok


def events_waiting(connection) -> int:
    """Events in the outbox that are neither delivered nor parked."""
    status = outbox_status(connection)
    return status.due + status.in_flight_or_backing_off


def wait_until_outbox_empty(connection, timeout: float = 120) -> int:
    """Wait until the relay has delivered (or parked) every event; how many still wait."""
    deadline = time.monotonic() + timeout
    while (waiting := events_waiting(connection)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return waiting


def run_bulk_demo(stack: LocalStack, connection) -> bool:
    """Many orders in one INSERT: one outbox row each, a few doorbells, and the relay
    delivering them to notify in batches."""
    print(f"== {BULK_ORDERS:,} orders in one INSERT (delivery 'outbox') ==")
    runtime = stack.runtime
    notify = stack.deployment.resource_name("notify")
    before = (runtime.invocation_counts[stack.relay_name], runtime.invocation_counts[notify])
    admin = stack.db.connect_root()
    try:
        rings_before = emulation.event_call_counts(admin, APP_DATABASE)
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO orders (customer_id, amount, currency) "
                f"SELECT seq, 1.00, 'EUR' FROM seq_1_to_{BULK_ORDERS}"
            )
        inserted = time.monotonic() - started
        waiting = wait_until_outbox_empty(connection)
        delivered = time.monotonic() - started
        rings = sum(emulation.event_call_counts(admin, APP_DATABASE).values()) - sum(
            rings_before.values()
        )
    finally:
        admin.close()
    relay_runs = runtime.invocation_counts[stack.relay_name] - before[0]
    notify_runs = runtime.invocation_counts[notify] - before[1]
    # The tail queue now holds the bulk insert's notifications: not read one by one here.
    boto3.client("sqs").purge_queue(QueueUrl=stack.tail_queue_url)
    print(f"   INSERT took {inserted:.2f} s; every event delivered {delivered:.1f} s after it")
    print(
        f"   Lambda invocations: {rings} doorbell(s) (lambda_async), {relay_runs} relay runs "
        f"(doorbells and schedule), {notify_runs} notify invocations "
        f"(batches of up to {DEMO_EVENTS_PER_INVOCATION})"
    )
    print(f"   (direct mode: {BULK_ORDERS:,} lambda_async calls, one a row, inside the INSERT)")
    ok = waiting == 0 and notify_runs <= BULK_ORDERS // DEMO_EVENTS_PER_INVOCATION + 2
    print("   RESULT: " + ("all delivered by the relay" if ok else f"{waiting} events still wait"))
    return ok


def local_path_check(stack: LocalStack) -> doctor.PathCheck:
    """The ingest path as the local stack runs it (its disabled event source mapping says
    itself, by its tag, that the stack's poller feeds the drain); what it does not deploy
    on moto is left out, and the doctor says why."""
    deployment = stack.deployment
    skipped = {}
    apis = boto3.client("apigatewayv2").get_apis()["Items"]
    if not any(api["Name"] == deployment.resource_name("api") for api in apis):
        skipped["api"] = "the local stack serves the routes itself: infra/local/api_gateway.py"
    aliases = boto3.client("lambda").list_aliases(FunctionName=deployment.resource_name("ingest"))
    alias = LIVE_ALIAS if any(a["Name"] == LIVE_ALIAS for a in aliases["Aliases"]) else None
    if alias is None:
        skipped["alias live"] = "the local stack publishes no versions: callers use $LATEST"
    return doctor.PathCheck(
        deployment,
        alias=alias,
        skipped=skipped,
    )


def run_doctor(stack: LocalStack) -> bool:
    """The whole path the stack deployed (on moto and the local server), checked link by
    link: the ingest path, Aurora's chain, the installed triggers, and a ping."""
    print("== aurora-events doctor: the whole path, from the API to the database and back ==")
    admin = stack.db.connect_root()
    app = connect(parse_database_url(stack.database_url()))
    try:
        diagnosis = doctor.diagnose(
            stack.aurora_access,
            None,  # the triggers' definers are read from the database
            admin,
            check_network=False,  # moto has no network to check
            probe_function=stack.resources.function_arns["notify"],
            probe_connection=app,
            schema=APP_DATABASE,
            path=local_path_check(stack),
        )
    finally:
        admin.close()
        app.close()
    print("   " + doctor.render_diagnosis(diagnosis).replace("\n", "\n   "))
    return diagnosis.ok and diagnosis.probe.pong


def post_json(url: str, body: dict, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for_rows(stored, count: int, timeout: float = 60) -> list[tuple]:
    deadline = time.monotonic() + timeout
    rows = stored()
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.3)
        rows = stored()
    return rows


def run_ingest_demo(stack: LocalStack) -> bool:
    """Requests through the local API, a database outage in the middle, nothing lost."""
    api = stack.api.url
    print(
        f"== The ingest path: POST {api}/orders -> ingest λ -> SQS FIFO -> drain λ -> database =="
    )
    sent: dict[str, dict] = {}
    statuses: list[int] = []
    # The row stores the key in its scope (the customer's), as the 202 answer says.
    client_keys: dict[str, str] = {}  # stored key -> the demo's key

    def stored() -> list[tuple]:
        connection = connect(parse_database_url(stack.database_url()))
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT idempotency_key, customer_id, amount FROM orders ORDER BY id"
                )
                return [
                    (client_keys[key], customer, amount)
                    for key, customer, amount in cursor.fetchall()
                    if key in client_keys
                ]
        finally:
            connection.close()

    def send(n: int, customer: int, resubmit: int = 1) -> None:
        key = f"demo-order-{n:03}"
        body = {"customer_id": customer, "amount": f"{n}.50", "currency": "EUR"}
        sent[key] = body
        for _ in range(resubmit):
            status, answer = post_json(f"{api}/orders", body, key)
            statuses.append(status)
            if status == 202:
                client_keys[answer["stored_key"]] = key

    for n in range(1, 21):
        send(n, customer=100 + n % 4, resubmit=3 if n % 5 == 0 else 1)
    print("   database up:   20 orders posted (4 of them 3 times, same Idempotency-Key)")
    print(f"   stored so far: {len(wait_for_rows(stored, 20))} rows")
    stack.db.stop()
    print("   database DOWN (server stopped, as during an upgrade)")
    for n in range(21, 51):
        send(n, customer=100 + n % 4)
    depth = sum(
        d.visible + d.in_flight for d in queue_depths(stack.deployment) if "dlq" not in d.name
    )
    print(f"   database down: 30 more orders posted; {depth} message(s) waiting in the queue")
    bad = post_json(f"{api}/orders", {"customer_id": "seven", "amount": 1, "currency": "EUR"})
    print(f"   a bad request meanwhile: {bad[0]} {bad[1]['message']}")
    stack.db.start()
    print("   database up again")

    rows = wait_for_rows(stored, len(sent))
    keys = [key for key, _, _ in rows]
    intact = all(
        sent[key] == {"customer_id": customer, "amount": str(amount), "currency": "EUR"}
        for key, customer, amount in rows
    )
    in_order = all(
        [k for k, c, _ in rows if c == customer] == sorted(k for k, c, _ in rows if c == customer)
        for customer in {c for _, c, _ in rows}
    )
    accepted = statuses.count(202)
    print(
        f"   requests: {len(statuses)} posted, {accepted} answered 202; "
        f"distinct orders: {len(sent)}"
    )
    print(
        f"   rows stored: {len(rows)}; distinct keys: {len(set(keys))}; "
        f"values intact: {'yes' if intact else 'NO'}; per-customer order kept: "
        f"{'yes' if in_order else 'NO'}"
    )
    ok = (
        accepted == len(statuses)
        and len(rows) == len(sent) == len(set(keys))
        and intact
        and in_order
        and bad[0] == 400
    )
    print(
        "   RESULT: "
        + (
            "every request stored exactly once, none lost during the outage"
            if ok
            else "PROBLEMS in the ingest path"
        )
    )
    return ok


def main() -> int:
    # The runtime warns while the database is down on purpose; the demo says so itself.
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="aurora-events-demo-") as base:
        return run_demo(Path(base) / "stack")


if __name__ == "__main__":
    sys.exit(main())
