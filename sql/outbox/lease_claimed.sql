-- Claimed rows count an attempt and stay out of every claim for the lease: a relay
-- that dies mid-delivery leaves them due again when it runs out.
-- ${sequences} is "%s, %s, ..."; parameters: the lease in microseconds, the sequences.
UPDATE `aurora_events_outbox`
SET `attempts` = `attempts` + 1,
    `next_attempt_at` = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND
WHERE `sequence` IN (${sequences});
