"""The project's SQL text, one object per file, and the loader that renders it.

Files may hold several statements, separated the way the ``mysql`` client does it
(``DELIMITER $$`` ... ``$$``), so a file without placeholders can also be fed to the
client by hand. Placeholders are ``${name}``; callers pass values that are already
quoted SQL (see :func:`quote_identifier` and :func:`quote_string`): nothing here
builds SQL by concatenating raw values.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

SQL_DIR = Path(__file__).resolve().parent

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")


class SqlTemplateError(ValueError):
    """A template was rendered with a missing or unsafe value."""


def read(name: str) -> str:
    """Return the text of ``sql/<name>``."""
    path = SQL_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {name!r} under {SQL_DIR}")
    return path.read_text(encoding="utf-8")


class _SqlTemplate(Template):
    # Only ${name} is a placeholder: a bare $ (JSON paths, DELIMITER $$) is SQL text.
    pattern = (
        r"\$(?:(?P<escaped>(?!))|(?P<named>(?!))"
        r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<invalid>(?!)))"
    )


def render(name: str, **values: str) -> list[str]:
    """Render ``sql/<name>`` with already-quoted ``values``; return its statements."""
    try:
        text = _SqlTemplate(read(name)).substitute(values)
    except KeyError as missing:
        raise SqlTemplateError(f"{name}: no value for placeholder {missing}") from None
    return split_statements(text)


def split_statements(text: str) -> list[str]:
    """Split SQL text into statements, honouring ``DELIMITER`` lines like the mysql client."""
    delimiter = ";"
    statements: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("--")):
            continue
        if stripped.upper().startswith("DELIMITER "):
            delimiter = stripped.split(None, 1)[1]
            continue
        if stripped.endswith(delimiter):
            current.append(line.rstrip()[: -len(delimiter)])
            statements.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    if "\n".join(current).strip():
        statements.append("\n".join(current).strip())
    return [s for s in statements if s]


def quote_identifier(name: str) -> str:
    """Quote a table, column, trigger or schema name; reject anything unusual."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise SqlTemplateError(
            f"{name!r} is not a plain SQL identifier (letters, digits, _ and $, at most 64, "
            "not starting with a digit)"
        )
    return f"`{name}`"


def quote_string(value: str) -> str:
    """Quote a string literal for MySQL/MariaDB (backslash escapes on, as by default)."""
    if not isinstance(value, str):
        raise SqlTemplateError(f"expected a string literal, got {type(value).__name__}")
    if "\x00" in value:
        raise SqlTemplateError("a string literal cannot contain a NUL character")
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\x1a", "\\Z")
    )
    return f"'{escaped}'"
