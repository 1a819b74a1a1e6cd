-- The payloads of one invocation's events, while the relay still holds their lease (the
-- relay loads one invocation at a time, so its memory is bounded by an invocation's
-- bytes, not a claim's). ${sequences} is "%s, %s, ..."; parameters: the lease's token,
-- the sequences.
SELECT `sequence`, `payload`
FROM `aurora_events_outbox`
WHERE `next_attempt_at` = %s AND `sequence` IN (${sequences})
  AND `delivered_at` IS NULL AND `parked_at` IS NULL;
