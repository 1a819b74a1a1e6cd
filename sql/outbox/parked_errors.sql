-- What `aurora-events outbox` shows of the parked events (parked and not delivered, as
-- status.sql counts them): why the relay stopped trying them, the most common error
-- first, per target (the error text does not name it), each with how many events it
-- parked and when it last parked one. Reads the parked rows only: a range of the index
-- `outbox_pending` (delivered_at, parked_at, sequence). Parameter: how many errors.
SELECT `target_function`, `last_error`, COUNT(*) AS `events`, MAX(`parked_at`) AS `newest`
FROM `aurora_events_outbox`
WHERE `delivered_at` IS NULL AND `parked_at` IS NOT NULL
GROUP BY `target_function`, `last_error`
ORDER BY `events` DESC, `newest` DESC, `target_function`
LIMIT %s;
