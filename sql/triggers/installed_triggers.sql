-- The triggers of schema %s as the server stores them, for the doctor: which table,
-- which account they run as (DEFINER, 'user@host' unquoted) and their body, from which it
-- reads the functions they call. Only the triggers of tables the connection may see
-- (the admin account sees them all).
SELECT `TRIGGER_NAME`, `EVENT_OBJECT_TABLE`, `DEFINER`, `ACTION_STATEMENT`
FROM information_schema.TRIGGERS
WHERE `TRIGGER_SCHEMA` = %s
ORDER BY `EVENT_OBJECT_TABLE`, `TRIGGER_NAME`;
