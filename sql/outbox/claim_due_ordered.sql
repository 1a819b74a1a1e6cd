-- claim_due.sql on an outbox with ordering keys (revision 0008): the same scan of due rows
-- in sequence order (a range of `outbox_pending`), with each row's `ordering_key` (NULL:
-- unordered). A claim may so take several events of one key and target: the relay sends
-- them in waves, each only after the one before it was delivered or parked
-- (functions/relay/delivery.py, next_wave). Which claimed rows wait behind an earlier
-- event this claim does not hold is asked in a later statement (held_behind.sql: this
-- statement's snapshot can be older than the rows its locking scan finds); those are held
-- (hold.sql), not leased. Leaving held events out of this scan (a NOT EXISTS per row, the
-- first version) read past every held event at each claim: quadratic in a hot row's
-- backlog.
-- Parameters: the largest number of rows.
SELECT `sequence`, `event_id`, `target_function`, LENGTH(`payload`), `attempts`,
       `ordering_key`, UTC_TIMESTAMP(6)
FROM `aurora_events_outbox` FORCE INDEX (`outbox_pending`)
WHERE `delivered_at` IS NULL AND `parked_at` IS NULL AND `next_attempt_at` <= UTC_TIMESTAMP(6)
ORDER BY `sequence`
LIMIT %s
FOR UPDATE SKIP LOCKED;
