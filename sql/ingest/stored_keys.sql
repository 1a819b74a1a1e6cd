-- Which of a batch's idempotency keys are stored already: their messages were written
-- before (a redelivery, a replay, a resubmitted request) and are skipped, not an error,
-- and fire no AFTER INSERT trigger.
-- ${table} is a quoted identifier; ${keys} is "%s, %s, ..." (the keys are parameters).
SELECT `idempotency_key` FROM ${table} WHERE `idempotency_key` IN (${keys});
