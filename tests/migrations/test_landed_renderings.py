"""The landed revisions render their triggers byte for byte as when they landed: every
LambdaTrigger of migrations/versions/0*.py, rendered against fixed tables and ARNs, has
the SHA-256 (first 16 hex digits) it had before new declarations got the best text by
default (computed on commit 753a0b2). A changed class default, SQL file or renderer that
would change what a landed revision installs fails here. Pure: no server."""

import hashlib
import importlib.util
from pathlib import Path

from migrations.lambda_trigger import BEST_TEXT, LambdaTrigger, render_statement, units
from migrations.row_event_sql import TRIGGER_TEXTS

REPO_ROOT = Path(__file__).resolve().parents[2]
COLUMN_TYPES = {
    "customers": {
        "id": "bigint",
        "name": "varchar",
        "email": "varchar",
        "phone": "varchar",
        "created_at": "datetime",
    },
    "orders": {
        "id": "bigint",
        "customer_id": "bigint",
        "amount": "decimal",
        "currency": "char",
        "status": "varchar",
        "created_at": "datetime",
    },
    "customer_feedback": {
        "id": "int",
        "customer_name": "varchar",
        "customer_email": "varchar",
        "feedback": "mediumtext",
        "rating": "smallint",
        "created_at": "datetime",
    },
}
PINNED = {
    ("0002", "customer_feedback_ai_email", "direct", 1): "6c8442949d281f41",
    ("0002", "customer_feedback_ai_notify", "direct", 1): "e4ec949ba5cd1529",
    ("0002", "customers_ai_notify", "direct", 1): "0f978fa43b9e3371",
    ("0002", "orders_ai_notify", "direct", 1): "58485ba5e738f4a7",
    ("0004", "customers_ai_notify", "direct", 1): "0f978fa43b9e3371",
    ("0004", "customers_ai_notify", "outbox", 1): "b429692418e5d1e8",
    ("0004", "orders_ai_notify", "direct", 1): "58485ba5e738f4a7",
    ("0004", "orders_ai_notify", "outbox", 1): "8a4f8f5152e59557",
    ("0005", "customers_ai_notify", "outbox", 1): "b429692418e5d1e8",
    ("0005", "customers_ai_notify", "outbox", 2): "996110a04e1860d5",
    ("0005", "orders_ai_notify", "outbox", 1): "8a4f8f5152e59557",
    ("0005", "orders_ai_notify", "outbox", 2): "936f30b3400c73ae",
    ("0006", "customers_ai_notify", "outbox", 2): "996110a04e1860d5",
    ("0006", "customers_ai_notify", "outbox", 3): "4d32ee24039a0068",
    ("0006", "orders_ai_notify", "outbox", 2): "936f30b3400c73ae",
    ("0006", "orders_ai_notify", "outbox", 3): "ad2c9452f93360fa",
    # Revision 0009: one declaration, one trigger per operation (outbox text 4).
    ("0009", "customers_ad_notify", "outbox", 4): "96427403893ede49",
    ("0009", "customers_ai_notify", "outbox", 3): "4d32ee24039a0068",
    ("0009", "customers_ai_notify", "outbox", 4): "48c3f8d6e49375ce",
    ("0009", "customers_au_notify", "outbox", 4): "611c61303707b8ac",
    ("0009", "orders_ai_notify", "outbox", 3): "ad2c9452f93360fa",
    ("0009", "orders_ai_notify", "outbox", 4): "7cc35833f7d5eb2d",
    ("0009", "orders_au_notify", "outbox", 4): "0ae333d85a74817e",
}


def arn(function: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:aurora-events-{function}:live"


def landed_triggers() -> dict[tuple, LambdaTrigger]:
    """Every LambdaTrigger a landed revision module holds (alone or in a tuple)."""
    found = {}
    for path in sorted((REPO_ROOT / "migrations" / "versions").glob("0*.py")):
        spec = importlib.util.spec_from_file_location(f"landed_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for value in vars(module).values():
            for trigger in value if isinstance(value, tuple) else (value,):
                if isinstance(trigger, LambdaTrigger):
                    # One MySQL trigger per operation (revision 0009 on).
                    for unit in units(trigger):
                        key = (path.stem[:4], unit.trigger_name, unit.delivery)
                        found[(*key, unit.template_version)] = unit
    return found


def test_every_landed_revision_renders_its_triggers_as_it_did():
    rendered = {
        key: hashlib.sha256(
            render_statement(trigger, COLUMN_TYPES[trigger.table], ("id",), arn).encode()
        ).hexdigest()[:16]
        for key, trigger in landed_triggers().items()
    }
    assert rendered == PINNED


def test_a_new_declaration_gets_the_best_text_and_the_class_default_stays_text_1():
    assert {
        delivery: max(v for d, v in TRIGGER_TEXTS if d == delivery) for delivery in BEST_TEXT
    } == BEST_TEXT
    assert BEST_TEXT == {"outbox": 4, "direct": 2}
    new = LambdaTrigger.declare("orders", "notify", ("id",), delivery="outbox")
    assert new.template_version == 4
    assert LambdaTrigger.declare("orders", "notify", ("id",)).template_version == 2  # direct
    pinned = LambdaTrigger.declare(
        "orders", "notify", ("id",), delivery="outbox", template_version=2
    )
    assert pinned.template_version == 2
    # What landed revisions construct keeps text 1.
    assert LambdaTrigger("orders", "notify", ("id",), delivery="outbox").template_version == 1
