-- The columns of every table of schema %s, in table order, with the type a trigger's
-- payload renders them by (row_event_sql.VALUE_FORMATS).
SELECT `TABLE_NAME`, `COLUMN_NAME`, `DATA_TYPE`
FROM information_schema.COLUMNS
WHERE `TABLE_SCHEMA` = %s
ORDER BY `TABLE_NAME`, `ORDINAL_POSITION`;
