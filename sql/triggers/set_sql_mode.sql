-- The first statement of an offline (--sql) script: the session's sql_mode as every
-- connection of the project pins it (functions.common.database.SESSION_SQL_MODE), so the
-- script's SQL means what it does online and its triggers keep that mode.
SET SESSION sql_mode = ${sql_mode};
