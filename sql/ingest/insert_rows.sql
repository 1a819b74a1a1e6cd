-- The drain's write: several queued rows in one statement, only rows whose idempotency
-- key is not stored yet (sql/ingest/stored_keys.sql tells which are). A plain INSERT,
-- so the drain's account needs INSERT and SELECT, not UPDATE (ON DUPLICATE KEY UPDATE
-- would need UPDATE on every inserted column on MariaDB). A key another drain stored
-- meanwhile fails the statement with 1062 and the batch is retried, which then skips it.
-- ${table} and ${columns} are quoted identifiers; ${rows} is "(%s, ...), (%s, ...)" with
-- one placeholder per value: the values travel as parameters, never inside this text.
INSERT INTO ${table} (${columns})
VALUES ${rows};
