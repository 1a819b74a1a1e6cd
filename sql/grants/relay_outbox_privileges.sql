-- Which of the relay's privileges an account holds on the outbox of a schema: globally,
-- on the schema, or on the table (the doctor's check; what relay_outbox.sql grants).
-- Parameters: the account as GRANTEE writes it ('user'@'host', nothing escaped) and the
-- schema, three times over.
SELECT `PRIVILEGE_TYPE` FROM information_schema.USER_PRIVILEGES
WHERE `GRANTEE` = %s
UNION
SELECT `PRIVILEGE_TYPE` FROM information_schema.SCHEMA_PRIVILEGES
WHERE `GRANTEE` = %s AND `TABLE_SCHEMA` = %s
UNION
SELECT `PRIVILEGE_TYPE` FROM information_schema.TABLE_PRIVILEGES
WHERE `GRANTEE` = %s AND `TABLE_SCHEMA` = %s AND `TABLE_NAME` = 'aurora_events_outbox';
