-- The primary key columns of every table of schema %s, in key order.
SELECT `TABLE_NAME`, `COLUMN_NAME`
FROM information_schema.KEY_COLUMN_USAGE
WHERE `TABLE_SCHEMA` = %s AND `CONSTRAINT_NAME` = 'PRIMARY'
ORDER BY `TABLE_NAME`, `ORDINAL_POSITION`;
