import pytest

import sql
from sql import SqlTemplateError, quote_identifier, quote_string, split_statements


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
    statements = sql.render("emulation/native_lambda.sql")
    assert any("FUNCTION aurora_emulation.invoke_async" in s for s in statements)
    assert all(not s.rstrip().endswith("$$") for s in statements)


@pytest.mark.parametrize("bad", ["", "1abc", "a-b", "a b", "x`y", "a" * 65, "é"])
def test_quote_identifier_rejects_unusual_names(bad):
    with pytest.raises(SqlTemplateError, match="not a plain SQL identifier"):
        quote_identifier(bad)


def test_quote_string_escapes_quotes_backslashes_and_line_breaks():
    assert quote_string("a'b\\c\nd\re") == "'a\\'b\\\\c\\nd\\re'"
    with pytest.raises(SqlTemplateError, match="NUL"):
        quote_string("a\x00b")
