-- The delivered rows purgeable.sql found, by primary key (a row replayed meanwhile is
-- no longer delivered, and stays). ${sequences} is "%s, %s, ..."; parameters: the sequences.
DELETE FROM `aurora_events_outbox`
WHERE `sequence` IN (${sequences}) AND `delivered_at` IS NOT NULL;
