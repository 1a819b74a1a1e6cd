-- The second half of replacing a trigger: see lock_and_drop_trigger.sql.
UNLOCK TABLES;
