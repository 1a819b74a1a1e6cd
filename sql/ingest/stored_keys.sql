-- Which of a batch's idempotency keys are stored already, with the hash of the body each
-- was stored from: an equal hash is the same request again (a redelivery, a replay, a
-- resend) and is skipped, firing no AFTER INSERT trigger; another hash is a conflict
-- the drain records. The hash is NULL for rows stored before migration 0007.
-- ${table} is a quoted identifier; ${keys} is "%s, %s, ..." (the keys are parameters).
SELECT `idempotency_key`, `idempotency_body_hash` FROM ${table}
WHERE `idempotency_key` IN (${keys});
