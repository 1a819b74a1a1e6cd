-- The JSON array of the names of the columns an UPDATE changed, in the trigger's column
-- order: CONCAT_WS skips the NULL of each column whose value is the same (NEW <=> OLD:
-- NULL-safe, so NULL -> NULL is no change and NULL -> 'x' is one), and JSON_EXTRACT
-- makes the text a JSON value (nested as an array, not as a string; MySQL 8 and MariaDB).
-- ${names} is, per column, IF(NEW.`c` <=> OLD.`c`, NULL, '"c"') (the name as a JSON
-- string, in a string literal).
JSON_EXTRACT(CONCAT('[', CONCAT_WS(',', ${names}), ']'), '$')
