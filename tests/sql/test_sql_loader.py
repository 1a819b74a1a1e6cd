import re

import pytest

import sql
from infra.database import grants as db_grants
from infra.database.dialects import AURORA_DIALECTS
from infra.database.grants import Server
from infra.local import emulation
from infra.local.grant_dialects import EMULATED_DIALECTS
from sql import SqlTemplateError, quote_identifier, quote_string, render_text, split_statements


def test_split_honours_delimiter_blocks_and_skips_comments():
    text = """
-- a comment
CREATE TABLE a (x INT);
DELIMITER $$
CREATE FUNCTION f() RETURNS INT
BEGIN
  RETURN 1;
END $$
DELIMITER ;
SELECT '$.path';
"""
    assert split_statements(text) == [
        "CREATE TABLE a (x INT)",
        "CREATE FUNCTION f() RETURNS INT\nBEGIN\n  RETURN 1;\nEND",
        "SELECT '$.path'",
    ]


def test_render_leaves_bare_dollars_alone_and_names_a_missing_placeholder():
    statements = sql.render("triggers/drop_trigger.sql", trigger="`t1`")
    assert statements == ["DROP TRIGGER IF EXISTS `t1`"]
    with pytest.raises(SqlTemplateError, match="no value for placeholder 'trigger'"):
        sql.render("triggers/drop_trigger.sql")


def test_every_emulation_file_splits_into_statements():
    statements = sql.render("emulation/native_lambda.sql", **emulation.payload_limit_values())
    assert any("FUNCTION aurora_emulation.invoke_async" in s for s in statements)
    assert all(not s.rstrip().endswith("$$") for s in statements)


@pytest.mark.parametrize(
    "bad",
    ["", "1abc", "a-b", "a b", "x`y", "a" * 65, "é", "orders\n", "orders\u2028", "orders\x0b"],
)
def test_quote_identifier_rejects_unusual_names(bad):
    with pytest.raises(SqlTemplateError) as raised:
        quote_identifier(bad)
    assert str(raised.value) == (
        f"{bad!r} is not a plain SQL identifier (letters, digits, _ and $, at most 64, "
        "not starting with a digit)"
    )


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("o'brien", "'o''brien'"),
        ("''", "'" + "''" * 2 + "'"),
        ("$$", "'$$'"),
        ("x-- y", "'x-- y'"),
        ("a/*b", "'a/*b'"),
        ('say "hi" `now`', "'say \"hi\" `now`'"),
        (
            "h'; GRANT ALL PRIVILEGES ON *.* TO mallory; --",
            "'h''; GRANT ALL PRIVILEGES ON *.* TO mallory; --'",
        ),
    ],
)
def test_quote_string_doubles_quotes_and_escapes_nothing(value, quoted):
    assert quote_string(value) == quoted


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param("a\x00b", "a NUL character (U+0000)", id="NUL"),
        pytest.param(
            "x\\",
            "a backslash (its meaning depends on sql_mode NO_BACKSLASH_ESCAPES)",
            id="trailing-backslash",
        ),
        pytest.param(
            "o\\'brien",
            "a backslash (its meaning depends on sql_mode NO_BACKSLASH_ESCAPES)",
            id="backslash-quote",
        ),
        pytest.param("a\nb", "a control character (U+000A)", id="newline"),
        pytest.param("a\rb", "a control character (U+000D)", id="carriage-return"),
        pytest.param("a\x0bb", "a control character (U+000B)", id="vertical-tab"),
        pytest.param("a\x0cb", "a control character (U+000C)", id="form-feed"),
        pytest.param("a\x1cb", "a control character (U+001C)", id="file-separator-x1c"),
        pytest.param("a\x1db", "a control character (U+001D)", id="group-separator-x1d"),
        pytest.param("a\x1eb", "a control character (U+001E)", id="record-separator-x1e"),
        pytest.param("a\x1ab", "a control character (U+001A)", id="ctrl-z-x1a"),
        pytest.param("a\x85b", "a control character (U+0085)", id="next-line-x85"),
        pytest.param("a\u2028b", "a line separator (U+2028)", id="line-separator-u2028"),
        pytest.param("a\u2029b", "a paragraph separator (U+2029)", id="paragraph-separator-u2029"),
    ],
)
def test_quote_string_refuses_backslashes_and_control_characters(value, problem):
    with pytest.raises(SqlTemplateError) as raised:
        quote_string(value)
    assert str(raised.value) == f"a string literal cannot contain {problem}"


ISSUE_HOST = "h';\x0bGRANT ALL PRIVILEGES ON *.* TO mallory;\x0b-- "


@pytest.mark.parametrize(
    "server",
    [
        Server(AURORA_DIALECTS[3], "3.05.2"),
        Server(AURORA_DIALECTS[2], "2.11.2"),
        Server(EMULATED_DIALECTS[3], "10.11"),
        Server(EMULATED_DIALECTS[2], "10.11"),
    ],
    ids=["aurora-v3", "aurora-v2", "emulated-v3", "emulated-v2"],
)
def test_the_issue_host_with_vertical_tabs_renders_no_statement(server):
    with pytest.raises(SqlTemplateError) as raised:
        db_grants.grant_statements(server, "app", ISSUE_HOST)
    assert str(raised.value) == "a string literal cannot contain a control character (U+000B)"


# -- splitting: \n only ------------------------------------------------------------------

PYTHON_ONLY_LINE_BREAKS = [
    pytest.param("\x0b", id="vertical-tab"),
    pytest.param("\x0c", id="form-feed"),
    pytest.param("\x1c", id="x1c"),
    pytest.param("\x1d", id="x1d"),
    pytest.param("\x1e", id="x1e"),
    pytest.param("\x85", id="next-line-x85"),
    pytest.param("\u2028", id="line-separator-u2028"),
    pytest.param("\u2029", id="paragraph-separator-u2029"),
]


@pytest.mark.parametrize("separator", PYTHON_ONLY_LINE_BREAKS)
def test_split_does_not_end_a_comment_line_at_a_python_only_line_break(separator):
    # The server reads the whole line as one comment: nothing in it is a statement.
    text = f"-- a note{separator}GRANT ALL PRIVILEGES ON *.* TO mallory;\nSELECT 1;\n"
    assert split_statements(text) == ["SELECT 1"]


@pytest.mark.parametrize("separator", PYTHON_ONLY_LINE_BREAKS)
def test_split_keeps_a_python_only_line_break_inside_a_literal_as_it_is(separator):
    text = f"SELECT 'a{separator}b';\nSELECT 2;\n"
    assert split_statements(text) == [f"SELECT 'a{separator}b'", "SELECT 2"]


def test_split_tolerates_crlf_line_ends():
    text = "-- note\r\nSELECT 1;\r\nDELIMITER $$\r\nSELECT\r\n  2$$\r\nDELIMITER ;\r\n"
    assert split_statements(text) == ["SELECT 1", "SELECT\n  2"]


def test_split_ignores_delimiters_inside_literals_identifiers_and_comments():
    text = "SELECT ';', `a;b`, \"c;\" /* d; */ -- e;\n  FROM t;\nSELECT 'it''s; \\' ;';\n"
    assert split_statements(text) == [
        "SELECT ';', `a;b`, \"c;\" /* d; */ -- e;\n  FROM t",
        "SELECT 'it''s; \\' ;'",
    ]


# -- rendering: placeholders only in SQL text, values that stay in their place ------------


def test_render_drops_comment_lines_with_the_placeholders_they_mention():
    text = "-- ${x} is a quoted string\n# so is ${x}\nSELECT ${x};\n"
    assert render_text(text, {"x": quote_string("v")}) == ["SELECT 'v'"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("SELECT 1 -- about ${x}\n;", "a comment", id="trailing-dash-dash-comment"),
        pytest.param("SELECT 1 # about ${x}\n;", "a comment", id="trailing-hash-comment"),
        pytest.param("SELECT 1 /* ${x} */;", "a comment", id="block-comment"),
        pytest.param("SELECT '${x}';", "a string literal", id="string-literal"),
        pytest.param("SELECT `${x}`;", "a quoted identifier", id="quoted-identifier"),
    ],
)
def test_render_refuses_a_placeholder_outside_sql_text(text, where):
    with pytest.raises(SqlTemplateError) as raised:
        render_text(text, {"x": "1"}, source="t.sql")
    assert str(raised.value) == (
        f"t.sql: placeholder ${{x}} is inside {where}; placeholders are filled in only in SQL text"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param("1; DROP TABLE t", "contains ';' outside a quoted string", id="semicolon"),
        pytest.param("1 -- rest", "contains a comment: '-- rest'", id="dash-dash-comment"),
        pytest.param("1 # rest", "contains a comment: '# rest'", id="hash-comment"),
        pytest.param(
            "1 /* rest", "contains an unterminated comment: '/* rest'", id="block-comment-opener"
        ),
        pytest.param("1--1", "contains '--' outside a quoted string", id="dash-dash-without-space"),
        pytest.param("'a", 'contains an unterminated string literal: "\'a"', id="open-quote"),
        pytest.param(
            "'x\\'",
            "contains an unterminated string literal: \"'x\\\\'\"",
            id="backslash-escaped-quote",
        ),
        pytest.param(
            "1 \\! ls", "contains a backslash outside a quoted string", id="mysql-client-command"
        ),
        pytest.param(
            "1\nDELIMITER //\nSELECT 2 //", "contains a DELIMITER line", id="delimiter-line"
        ),
        pytest.param("1\x0b2", "contains a control character (U+000B)", id="vertical-tab"),
        pytest.param("1\u20282", "contains a line separator (U+2028)", id="line-separator-u2028"),
        pytest.param("1\r\n", "contains a control character (U+000D)", id="carriage-return"),
    ],
)
def test_render_refuses_a_value_that_could_leave_its_place(value, problem):
    with pytest.raises(SqlTemplateError) as raised:
        render_text("SELECT ${x};\n", {"x": value}, source="t.sql")
    assert str(raised.value) == f"t.sql: the value for ${{x}} {problem}"


def test_render_refuses_the_block_delimiter_in_a_value_but_not_in_a_quoted_one():
    text = (
        "DELIMITER $$\nCREATE FUNCTION f() RETURNS TEXT\nBEGIN\n  RETURN ${v};\nEND $$\n"
        "DELIMITER ;\n"
    )
    assert render_text(text, {"v": quote_string("$$")}) == [
        "CREATE FUNCTION f() RETURNS TEXT\nBEGIN\n  RETURN '$$';\nEND"
    ]
    with pytest.raises(SqlTemplateError) as raised:
        render_text(text, {"v": "1 $$ DROP TABLE t"}, source="f.sql")
    assert str(raised.value) == "f.sql: the value for ${v} contains '$$' outside a quoted string"


def test_render_takes_values_with_line_breaks_and_backslashes_in_literals():
    # Rendered SQL (a payload expression) goes into another file as a value.
    value = "REPLACE(TO_BASE64(x),\n  '\\n', '')"
    assert render_text("SELECT ${v};", {"v": value}) == [f"SELECT {value}"]


@pytest.mark.parametrize(
    "name", sorted(str(p.relative_to(sql.SQL_DIR)) for p in sql.SQL_DIR.rglob("*.sql"))
)
def test_every_sql_file_has_its_placeholders_in_sql_text_only(name):
    placeholders = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sql.read(name)))
    statements = sql.render(name, **dict.fromkeys(placeholders, "`v`"))
    assert statements
    assert not any("${" in statement for statement in statements)
