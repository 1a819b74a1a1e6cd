-- Which privileges an account holds on one table: globally, on the schema, or on the
-- table (the doctor's checks of the drain's and the relay's accounts: what drain_writes.sql,
-- relay_outbox.sql and relay_hold_counter.sql grant).
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
