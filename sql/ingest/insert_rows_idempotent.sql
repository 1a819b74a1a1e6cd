-- The drain's write: several queued rows in one statement. A row whose idempotency key
-- is already stored is left as it is, so a redelivered or replayed message is a no-op,
-- not an error (and fires no AFTER INSERT trigger: nothing was inserted).
-- ${table} and ${columns} are quoted identifiers; ${rows} is "(%s, ...), (%s, ...)" with
-- one placeholder per value: the values travel as parameters, never inside this text.
INSERT INTO ${table} (${columns})
VALUES ${rows}
ON DUPLICATE KEY UPDATE `idempotency_key` = `idempotency_key`;
