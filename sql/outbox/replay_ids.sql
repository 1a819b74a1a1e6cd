-- Send events again (receivers deduplicate on event_id): due at once, attempts from
-- zero, whether they were delivered, parked or waiting. ${event_ids} is "%s, %s, ...";
-- parameters: the event ids.
UPDATE `aurora_events_outbox`
SET `delivered_at` = NULL, `parked_at` = NULL, `attempts` = 0,
    `next_attempt_at` = UTC_TIMESTAMP(6), `last_error` = NULL
WHERE `event_id` IN (${event_ids});
