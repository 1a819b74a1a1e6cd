"""Which revision is head, and which one a schema is at (for the doctor's triggers link)."""

from __future__ import annotations

from pathlib import Path

import sql
from sql import quote_identifier

MIGRATIONS = Path(__file__).resolve().parent


def head_revision() -> str | None:
    """The head of ``migrations/versions`` (None if there are several). Read from this
    package's folder, not alembic.ini: a wheel holds no alembic.ini (the doctor runs from
    one)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    heads = script.get_heads()
    return heads[0] if len(heads) == 1 else None


def schema_revision(connection, schema: str) -> str | None:
    """The revision ``schema`` is at; None when Alembic never migrated it, ``""`` when
    it did and it is at base."""
    with connection.cursor() as cursor:
        (statement,) = sql.render("triggers/alembic_version.sql")
        cursor.execute(statement, (schema,))
        if not cursor.fetchall():
            return None
        (statement,) = sql.render("triggers/version_num.sql", schema=quote_identifier(schema))
        cursor.execute(statement)
        rows = cursor.fetchall()
    return rows[0][0] if rows else ""
