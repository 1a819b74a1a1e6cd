-- replay_ids.sql for every event written since a time (UTC), or only the parked ones.
-- Parameters: the time, then 1 to replay only parked events (0: all of them).
UPDATE `aurora_events_outbox`
SET `delivered_at` = NULL, `parked_at` = NULL, `attempts` = 0,
    `next_attempt_at` = UTC_TIMESTAMP(6), `last_error` = NULL
WHERE `created_at` >= %s AND (%s = 0 OR `parked_at` IS NOT NULL);
