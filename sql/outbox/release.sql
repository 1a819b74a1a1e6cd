-- Events this relay holds but did not get to (the lease would end before an answer could
-- come, or the target stopped before its deadline and did not attempt them): due again at
-- once, with no error. The second parameter takes back the attempt start_attempt.sql
-- counted (1) or not (0): an event that was not attempted used none.
-- ${sequences} is "%s, %s, ..."; parameters: 1 or 0, the lease's token, the sequences.
UPDATE `aurora_events_outbox`
SET `next_attempt_at` = UTC_TIMESTAMP(6), `attempts` = `attempts` - %s
WHERE `next_attempt_at` = %s AND `sequence` IN (${sequences})
  AND `delivered_at` IS NULL AND `parked_at` IS NULL;
