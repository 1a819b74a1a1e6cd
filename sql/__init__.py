"""The project's SQL text, one object per file, and the loader that renders it.

Files may hold several statements, separated the way the ``mysql`` client does it
(``DELIMITER $$`` ... ``$$``), so a file without placeholders can also be fed to the
client by hand. Placeholders are ``${name}``; callers pass values that are already
quoted SQL (see :func:`quote_identifier` and :func:`quote_string`, or SQL text rendered
from these files): nothing here builds SQL by concatenating raw values.

Rendering is safe by construction:

* A file is split into statements *before* anything is substituted, on ``\\n`` only
  (``\\r\\n`` is tolerated), never on the other characters Python calls line breaks
  (``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028, U+2029). Full-line comments
  (``--`` or ``#``) are dropped then: they are documentation, and the placeholders they
  mention are never filled in.
* A placeholder is filled in only in SQL text. One inside a comment that stays in a
  statement (a trailing ``-- ...``, a ``/* ... */``), a string literal or a quoted
  identifier is a :class:`SqlTemplateError`: that is a mistake in the file.
* Every value is checked before it goes in: whole SQL tokens (no unterminated quote),
  no comment, no ``;`` or statement delimiter, no backslash outside a string literal,
  no ``DELIMITER`` line, and no control character but ``\\n`` and ``\\t``. So a value
  can neither start a statement nor start or end a comment, even in a statement that
  is printed for someone to paste into the ``mysql`` client.
* :func:`quote_string` doubles ``'`` and refuses backslashes and control characters, so
  a literal means the same under any ``sql_mode``, with or without NO_BACKSLASH_ESCAPES.
  The sessions that run rendered SQL pin ``sql_mode`` all the same
  (``functions.common.database.SESSION_SQL_MODE``), for the SQL text of the files.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent

# Whole-string matches only (fullmatch): "$" would also match before a trailing newline.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,63}")
# Only ${name} is a placeholder: a bare $ (JSON paths, DELIMITER $$) is SQL text.
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DELIMITER_COMMAND = re.compile(r"DELIMITER[ \t]+(\S+)", re.IGNORECASE)
_DELIMITER_LINE_IN_VALUE = re.compile(r"^[ \t]*DELIMITER\b", re.IGNORECASE | re.MULTILINE)
_SEPARATORS = {"\u2028": "a line separator", "\u2029": "a paragraph separator"}

CODE, STRING, IDENTIFIER, COMMENT = "SQL text", "string literal", "quoted identifier", "comment"


class SqlTemplateError(ValueError):
    """A template was rendered with a missing or unsafe value."""


def read(name: str) -> str:
    """Return the text of ``sql/<name>``."""
    path = SQL_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {name!r} under {SQL_DIR}")
    return path.read_text(encoding="utf-8")


def render(name: str, **values: str) -> list[str]:
    """Render ``sql/<name>`` with already-quoted ``values``; return its statements."""
    return [
        _fill(statement, delimiter, values, name) for statement, delimiter in _file_statements(name)
    ]


@functools.cache
def _file_statements(name: str) -> tuple[tuple[str, str], ...]:
    # The files ship with the code and never change while it runs: split each once (the
    # relay and the drain render the same few files on every batch).
    return tuple(_statements(read(name)))


def render_text(text: str, values: Mapping[str, str], source: str = "SQL text") -> list[str]:
    """Split ``text`` into statements, then fill in each one's placeholders (see module doc).

    ``source`` names the text in error messages.
    """
    return [
        _fill(statement, delimiter, values, source) for statement, delimiter in _statements(text)
    ]


def split_statements(text: str) -> list[str]:
    """Split SQL text into statements, honouring ``DELIMITER`` lines like the mysql client.

    Lines end at ``\\n`` only (a ``\\r`` before it is dropped); a delimiter inside a string
    literal, quoted identifier or comment does not end a statement; full-line comments
    are dropped. Nothing is substituted.
    """
    return [statement for statement, _ in _statements(text)]


def _statements(text: str) -> list[tuple[str, str]]:
    """``(statement, delimiter in force)`` pairs; see :func:`split_statements`."""
    delimiter = ";"
    found: list[tuple[str, str]] = []
    current: list[str] = []
    closing: str | None = None  # the quote or "*/" that a multi-line token waits for
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if closing is None:
            stripped = line.strip()
            if _is_line_comment(stripped, 0) or stripped.startswith("#"):
                continue
            command = _DELIMITER_COMMAND.fullmatch(stripped)
            if command:
                delimiter = command[1]
                continue
        start = 0
        position = 0
        while position < len(line):
            if closing is None and line.startswith(delimiter, position):
                current.append(line[start:position])
                found.append(("".join(current), delimiter))
                current = []
                position += len(delimiter)
                start = position
                continue
            position, closing = _step(line, position, closing)
        current.append(line[start:] + "\n")
    found.append(("".join(current), delimiter))
    return [
        (statement.strip(), delimiter)
        for statement, delimiter in found
        if any(kind != COMMENT and piece.strip() for kind, piece in _segments(statement))
    ]


def _is_line_comment(text: str, position: int) -> bool:
    # MySQL and MariaDB: "--" starts a comment only when whitespace or a control follows.
    if not text.startswith("--", position):
        return False
    after = text[position + 2 : position + 3]
    return after == "" or after.isspace() or unicodedata.category(after) == "Cc"


def _step(text: str, position: int, closing: str | None) -> tuple[int, str | None]:
    """Advance one token piece from ``position``; return the new position and state.

    ``closing`` is None in SQL text, else the quote character or ``*/`` being waited
    for. Line comments are consumed to the end of ``text``. String literals honour
    backslash escapes, as under the pinned sql_mode (values never hold a backslash).
    """
    char = text[position]
    if closing is None:
        if char in "'\"`":
            return position + 1, char
        if text.startswith("/*", position):
            return position + 2, "*/"
        if char == "#" or _is_line_comment(text, position):
            end = text.find("\n", position)
            return (len(text) if end < 0 else end), None
        return position + 1, None
    if closing == "*/":
        return (position + 2, None) if text.startswith("*/", position) else (position + 1, closing)
    if char == "\\" and closing != "`":
        return position + 2, closing
    if char == closing:
        if text.startswith(closing, position + 1):  # a doubled quote stands for itself
            return position + 2, closing
        return position + 1, None
    return position + 1, closing


def _segments(text: str) -> list[tuple[str, str]]:
    """Cut ``text`` into ``(kind, piece)``: SQL text, string literals, identifiers, comments.

    An unterminated quote or comment is the last piece, of kind ``"unterminated <kind>"``.
    """
    pieces: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        start = position
        char = text[position]
        if char in "'\"`" or text.startswith("/*", position):
            kind = IDENTIFIER if char == "`" else STRING if char in "'\"" else COMMENT
            position, closing = _step(text, position, None)
            while closing is not None and position < len(text):
                position, closing = _step(text, position, closing)
            if closing is not None:
                kind = "unterminated " + kind
        elif char == "#" or _is_line_comment(text, position):
            kind = COMMENT
            position, _ = _step(text, position, None)
        else:
            kind = CODE
            while (
                position < len(text)
                and text[position] not in "'\"`#"
                and not text.startswith("/*", position)
                and not _is_line_comment(text, position)
            ):
                position += 1
        pieces.append((kind, text[start:position]))
    return pieces


def _a(kind: str) -> str:
    return ("an " if kind.startswith("u") else "a ") + kind


def _fill(statement: str, delimiter: str, values: Mapping[str, str], source: str) -> str:
    def value_for(match: re.Match) -> str:
        key = match[1]
        if key not in values:
            raise SqlTemplateError(f"{source}: no value for placeholder {key!r}")
        return _checked_value(values[key], f"{source}: the value for ${{{key}}}", delimiter)

    filled = []
    for kind, piece in _segments(statement):
        if kind == CODE:
            piece = _PLACEHOLDER.sub(value_for, piece)
        else:
            misplaced = _PLACEHOLDER.search(piece)
            if misplaced:
                raise SqlTemplateError(
                    f"{source}: placeholder {misplaced[0]} is inside {_a(kind)}; placeholders "
                    "are filled in only in SQL text"
                )
        filled.append(piece)
    return "".join(filled)


def _checked_value(value: str, what: str, delimiter: str) -> str:
    """``value`` if it is whole, quoted SQL that cannot escape its place (see module doc)."""
    if not isinstance(value, str):
        raise SqlTemplateError(f"{what} must be SQL text (str), got {type(value).__name__}")
    for char in value:
        if char not in "\n\t":
            problem = _forbidden_character(char)
            if problem:
                raise SqlTemplateError(f"{what} contains {problem}")
    for kind, piece in _segments(value):
        if kind != CODE and kind not in (STRING, IDENTIFIER):
            raise SqlTemplateError(f"{what} contains {_a(kind)}: {piece[:20]!r}")
        if kind != CODE:
            continue
        for mark in dict.fromkeys((";", delimiter, "--")):
            if mark in piece:
                raise SqlTemplateError(f"{what} contains {mark!r} outside a quoted string")
        if "\\" in piece:
            raise SqlTemplateError(f"{what} contains a backslash outside a quoted string")
        if _DELIMITER_LINE_IN_VALUE.search(piece):
            raise SqlTemplateError(f"{what} contains a DELIMITER line")
    return value


def _forbidden_character(char: str) -> str | None:
    """What ``char`` is, when no quoted value may hold it; None when it may."""
    if char == "\x00":
        return "a NUL character (U+0000)"
    if unicodedata.category(char) == "Cc":
        return f"a control character (U+{ord(char):04X})"
    if char in _SEPARATORS:
        return f"{_SEPARATORS[char]} (U+{ord(char):04X})"
    return None


def quote_identifier(name: str) -> str:
    """Quote a table, column, trigger or schema name; reject anything unusual."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise SqlTemplateError(
            f"{name!r} is not a plain SQL identifier (letters, digits, _ and $, at most 64, "
            "not starting with a digit)"
        )
    return f"`{name}`"


def quote_string(value: str) -> str:
    """Quote a string literal the same under any sql_mode: ``'`` doubled, nothing escaped.

    Refused (:class:`SqlTemplateError`): NUL, every control character, U+2028/U+2029
    and the backslash. The values quoted here (account and host names, table and column
    names, ARNs, generated passwords) never need one, and without backslashes the
    literal reads the same with and without NO_BACKSLASH_ESCAPES.
    """
    if not isinstance(value, str):
        raise SqlTemplateError(f"expected a string literal, got {type(value).__name__}")
    for char in value:
        problem = _forbidden_character(char)
        if problem:
            raise SqlTemplateError(f"a string literal cannot contain {problem}")
        if char == "\\":
            raise SqlTemplateError(
                "a string literal cannot contain a backslash (its meaning depends on sql_mode "
                "NO_BACKSLASH_ESCAPES)"
            )
    return "'" + value.replace("'", "''") + "'"
