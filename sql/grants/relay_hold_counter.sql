-- The outbox relay's account on the outbox's hold counter (revision 0010,
-- sql/outbox/create_hold_counter.sql): it reads the count and adds to it; nothing else.
-- ${table} is a quoted database.table; ${account} a quoted 'user'@'host'.
GRANT SELECT, UPDATE ON ${table} TO ${account};
