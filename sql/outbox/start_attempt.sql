-- Events about to be sent count an attempt, right before the call (answered, failed or
-- timed out, it was sent; a relay that dies during the call has sent it too). Rows whose
-- lease another relay took are not counted, and the caller sends only what was.
-- ${sequences} is "%s, %s, ..."; parameters: the lease's token, the sequences.
UPDATE `aurora_events_outbox`
SET `attempts` = `attempts` + 1
WHERE `next_attempt_at` = %s AND `sequence` IN (${sequences})
  AND `delivered_at` IS NULL AND `parked_at` IS NULL;
