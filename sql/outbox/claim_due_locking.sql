-- claim_due.sql for servers without SKIP LOCKED (Aurora v2): the relay holds the named
-- lock of relay_lock.sql, so no other relay claims at the same time.
-- Parameters: the largest number of rows.
SELECT `sequence`, `event_id`, `target_function`, LENGTH(`payload`), `attempts`,
       UTC_TIMESTAMP(6)
FROM `aurora_events_outbox` FORCE INDEX (`outbox_pending`)
WHERE `delivered_at` IS NULL AND `parked_at` IS NULL AND `next_attempt_at` <= UTC_TIMESTAMP(6)
ORDER BY `sequence`
LIMIT %s
FOR UPDATE;
