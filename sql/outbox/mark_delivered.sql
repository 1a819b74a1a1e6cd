-- Events their target took. ${sequences} is "%s, %s, ..."; parameters: the lease's
-- token, the sequences.
UPDATE `aurora_events_outbox`
SET `delivered_at` = UTC_TIMESTAMP(6), `last_error` = NULL
WHERE `next_attempt_at` = %s AND `sequence` IN (${sequences}) AND `delivered_at` IS NULL;
