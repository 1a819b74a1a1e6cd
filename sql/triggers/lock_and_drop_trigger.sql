-- The first half of replacing a trigger (the second: unlock_tables.sql). MySQL has no
-- CREATE OR REPLACE TRIGGER, and DROP then CREATE is not atomic: the write lock keeps
-- every other session's INSERT out in between, so no row goes without its event and
-- none gets two. The CREATE TRIGGER runs between the two files' statements.
LOCK TABLES ${table} WRITE;
DROP TRIGGER IF EXISTS ${old_trigger};
