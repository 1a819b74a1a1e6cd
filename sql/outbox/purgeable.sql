-- Delivered rows past the retention, oldest first, a small batch at a time: a plain
-- (consistent, lock-free) read of the index `outbox_pending`; purge_delivered.sql then
-- deletes them by primary key, so the purge locks those rows alone and never the place
-- where users' transactions insert new ones.
-- Parameters: the retention in seconds, the batch size.
SELECT `sequence`
FROM `aurora_events_outbox`
WHERE `delivered_at` < UTC_TIMESTAMP(6) - INTERVAL %s SECOND
ORDER BY `delivered_at`
LIMIT %s;
