-- A failed delivery: due again after the backoff. Parameters: the delay in
-- microseconds, the error, the sequence.
UPDATE `aurora_events_outbox`
SET `next_attempt_at` = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND, `last_error` = %s
WHERE `sequence` = %s AND `delivered_at` IS NULL;
