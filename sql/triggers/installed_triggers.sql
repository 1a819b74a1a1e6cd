-- The triggers of schema %s as the server stores them, for the comparator and the doctor
-- (migrations/trigger_reader.py): which table, when they fire, which account they run as
-- (DEFINER, 'user@host' unquoted) and their body, from which it reads what they do.
-- Only the triggers of tables the connection may see (the admin account sees them all).
SELECT `TRIGGER_NAME`, `EVENT_OBJECT_TABLE`, `ACTION_TIMING`, `EVENT_MANIPULATION`,
       `DEFINER`, `ACTION_STATEMENT`
FROM information_schema.TRIGGERS
WHERE `TRIGGER_SCHEMA` = %s
ORDER BY `EVENT_OBJECT_TABLE`, `TRIGGER_NAME`;
