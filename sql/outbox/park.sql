-- An event the relay stops trying (too many attempts, or refused by its target): kept,
-- for a person to look at and replay. Parameters: the reason, the sequence.
UPDATE `aurora_events_outbox`
SET `parked_at` = UTC_TIMESTAMP(6), `last_error` = %s
WHERE `sequence` = %s AND `delivered_at` IS NULL;
