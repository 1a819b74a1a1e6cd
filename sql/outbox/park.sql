-- Events the relay stops trying (too many attempts, refused by the target, a payload that
-- does not decode or is over the target's limit): kept, with the reason, for a person to
-- look at and replay. ${sequences} is "%s, %s, ..."; parameters: the reason, the lease's
-- token, the sequences.
UPDATE `aurora_events_outbox`
SET `parked_at` = UTC_TIMESTAMP(6), `last_error` = %s
WHERE `next_attempt_at` = %s AND `sequence` IN (${sequences}) AND `delivered_at` IS NULL;
