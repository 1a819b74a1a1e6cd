-- Claimed rows the relay did not send (the target stopped before its deadline without
-- attempting them, or the lease would have ended before an answer): due again at once,
-- the claim's attempt given back, the last error kept as it was.
-- ${sequences} is "%s, %s, ..."; parameters: the sequences.
UPDATE `aurora_events_outbox`
SET `attempts` = IF(`attempts` > 0, `attempts` - 1, 0),
    `next_attempt_at` = UTC_TIMESTAMP(6)
WHERE `sequence` IN (${sequences}) AND `delivered_at` IS NULL AND `parked_at` IS NULL;
