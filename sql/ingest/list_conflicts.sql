-- The recorded idempotency conflicts, newest first, for `aurora-events conflicts`.
-- Parameter: how many rows at most.
SELECT `recorded_at`, `resource`, `idempotency_key`, `client_key`, `stored_body_hash`,
  `body_hash`, `message_id`
FROM `ingest_conflicts`
ORDER BY `id` DESC
LIMIT %s;
