-- Delivered rows past the retention, oldest first, a small batch at a time (short
-- transactions, short locks). Parameters: the retention in seconds, the batch size.
DELETE FROM `aurora_events_outbox`
WHERE `delivered_at` < UTC_TIMESTAMP(6) - INTERVAL %s SECOND
ORDER BY `delivered_at`
LIMIT %s;
