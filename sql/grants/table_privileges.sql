-- Which privileges an account holds on one table: globally, on the schema, or on the
-- table (the doctor's check of the drain's account; what drain_writes.sql grants).
-- Parameters: the account as GRANTEE writes it ('user'@'host', nothing escaped); the
-- account and the schema; the account, the schema and the table.
SELECT `PRIVILEGE_TYPE` FROM information_schema.USER_PRIVILEGES
WHERE `GRANTEE` = %s
UNION
SELECT `PRIVILEGE_TYPE` FROM information_schema.SCHEMA_PRIVILEGES
WHERE `GRANTEE` = %s AND `TABLE_SCHEMA` = %s
UNION
SELECT `PRIVILEGE_TYPE` FROM information_schema.TABLE_PRIVILEGES
WHERE `GRANTEE` = %s AND `TABLE_SCHEMA` = %s AND `TABLE_NAME` = %s;
