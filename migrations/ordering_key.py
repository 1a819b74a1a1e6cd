"""The SQL of a row's ordering key, for the triggers that write it into the outbox
(``sql/outbox/ordering_key.sql``; the same key in Python:
:func:`functions.common.ordering_key.ordering_key`)."""

from __future__ import annotations

from collections.abc import Sequence

import sql
from sql import quote_string


def ordering_key_expression(table: str, value_expressions: Sequence[str]) -> str:
    """The BINARY(16) expression of the ordering key of ``table``'s row whose primary-key
    values are ``value_expressions`` (SQL, in the key's column order, each in the row
    event's format: ``migrations.row_event_sql.value_expression`` of ``NEW.`col```, or of
    ``OLD.`col``` for a DELETE)."""
    if not value_expressions:
        raise ValueError(f"table {table!r}: an ordering key needs the primary key's values")
    parts = [quote_string(table), *value_expressions]
    converted = [f"CONVERT({part} USING utf8mb4)" for part in parts]
    (expression,) = sql.render(
        "outbox/ordering_key.sql",
        parts=", ".join(f"CHAR_LENGTH({value}), ':', {value}" for value in converted),
    )
    return expression
