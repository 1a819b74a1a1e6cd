"""A row's ordering key: what the outbox keeps a row's events in order by (revision 0008's
``ordering_key``, ``sql/outbox/ordering_key.sql``), computed from a row event.

The key is the first 16 bytes of the SHA-256 of the table's name and the row's
primary-key values, each as text prefixed by its length in characters (``6:orders2:42``
for ``orders`` row 42), the values written as the row event carries them: an integer's
digits, a string as it is (DECIMAL, dates and times, base64 of binary values are strings
in the event). The SQL expression a trigger writes computes the same bytes
(``tests/functions/test_ordering_key.py``). A receiver or an operator can so find the
outbox rows of one row: ``WHERE ordering_key = <key>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

KEY_BYTES = 16


def key_text(table: str, values: Sequence[object]) -> str:
    """The text that is hashed: each of the table and the values, length-prefixed."""
    return "".join(f"{len(part)}:{part}" for part in (table, *map(value_text, values)))


def value_text(value: object) -> str:
    """A primary-key value of a row event as the key's SQL writes it. Floats and other
    JSON values are refused: MySQL and Python write a float's digits differently, and a
    primary key of one is no row identity to order by."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"no ordering key for a primary-key value {value!r}: integers and strings")


def ordering_key(table: str, values: Sequence[object]) -> bytes:
    """The ordering key of ``table``'s row whose primary-key values (in the key's column
    order, as in the row event) are ``values``."""
    digest = hashlib.sha256(key_text(table, values).encode("utf-8")).digest()
    return digest[:KEY_BYTES]
