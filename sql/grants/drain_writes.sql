-- The drain's runtime account, on one table it writes: read and insert rows, nothing
-- else (no UPDATE or DELETE, no DDL, no Lambda access: the triggers run as their definer,
-- the migration account). See sql/ingest/insert_rows.sql for why INSERT is enough.
-- ${table} is a quoted database.table; ${account} a quoted 'user'@'host'.
GRANT SELECT, INSERT ON ${table} TO ${account};
