-- What the relay reports after each run (its CloudWatch metrics): events waiting (due,
-- leased or backing off), events parked, and the age of the oldest waiting one. Unlike
-- status.sql it never reads delivered rows, which the outbox keeps for the retention (a
-- week of events): `delivered_at` IS NULL is a range on the first column of the index
-- `outbox_pending` (delivered_at, parked_at, sequence), so the counts read that index
-- only, and the oldest waiting event is the lowest waiting `sequence` (the order the
-- events were written), whose `created_at` is one primary-key lookup.
SELECT
  `counts`.`pending`,
  `counts`.`parked`,
  TIMESTAMPDIFF(MICROSECOND, `oldest`.`created_at`, UTC_TIMESTAMP(6)) / 1000000
    AS `oldest_pending_seconds`
FROM (
  SELECT
    COALESCE(SUM(`parked_at` IS NULL), 0) AS `pending`,
    COALESCE(SUM(`parked_at` IS NOT NULL), 0) AS `parked`,
    MIN(CASE WHEN `parked_at` IS NULL THEN `sequence` END) AS `oldest_sequence`
  FROM `aurora_events_outbox`
  WHERE `delivered_at` IS NULL
) AS `counts`
LEFT JOIN `aurora_events_outbox` AS `oldest` ON `oldest`.`sequence` = `counts`.`oldest_sequence`;
