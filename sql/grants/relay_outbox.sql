-- The outbox relay's account: it reads the outbox, marks rows delivered, retried or
-- parked, and purges delivered ones; nothing else (no other table, no DDL, no Lambda
-- access: it invokes the targets through the Lambda API with its IAM role).
-- ${table} is a quoted database.table; ${account} a quoted 'user'@'host'.
GRANT SELECT, UPDATE, DELETE ON ${table} TO ${account};
