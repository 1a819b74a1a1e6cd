-- Events whose delivery failed: due again after the backoff, with the error.
-- ${sequences} is "%s, %s, ..."; parameters: the delay in microseconds, the error, the
-- lease's token, the sequences.
UPDATE `aurora_events_outbox`
SET `next_attempt_at` = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND, `last_error` = %s
WHERE `next_attempt_at` = %s AND `sequence` IN (${sequences}) AND `delivered_at` IS NULL;
