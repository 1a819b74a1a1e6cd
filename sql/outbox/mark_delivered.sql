-- ${sequences} is "%s, %s, ..."; parameters: the sequences.
UPDATE `aurora_events_outbox`
SET `delivered_at` = UTC_TIMESTAMP(6), `last_error` = NULL
WHERE `sequence` IN (${sequences}) AND `delivered_at` IS NULL;
