-- What `aurora-events outbox` shows: events waiting (due now, or leased / backing off),
-- parked, delivered and kept for the retention, and how old the oldest waiting one is.
SELECT
  COALESCE(SUM(`delivered_at` IS NULL AND `parked_at` IS NULL
               AND `next_attempt_at` <= UTC_TIMESTAMP(6)), 0) AS `due`,
  COALESCE(SUM(`delivered_at` IS NULL AND `parked_at` IS NULL
               AND `next_attempt_at` > UTC_TIMESTAMP(6)), 0) AS `in_flight_or_backing_off`,
  COALESCE(SUM(`parked_at` IS NOT NULL AND `delivered_at` IS NULL), 0) AS `parked`,
  COALESCE(SUM(`delivered_at` IS NOT NULL), 0) AS `delivered`,
  TIMESTAMPDIFF(MICROSECOND,
    MIN(CASE WHEN `delivered_at` IS NULL AND `parked_at` IS NULL THEN `created_at` END),
    UTC_TIMESTAMP(6)) / 1000000 AS `oldest_waiting_seconds`
FROM `aurora_events_outbox`;
