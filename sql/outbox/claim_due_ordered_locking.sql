-- claim_due_ordered.sql for servers without SKIP LOCKED (Aurora v2), under the named
-- lock of relay_lock.sql, as claim_due_locking.sql. Parameters: the largest number of rows.
SELECT `o`.`sequence`, `o`.`event_id`, `o`.`target_function`, LENGTH(`o`.`payload`),
       `o`.`attempts`, UTC_TIMESTAMP(6)
FROM `aurora_events_outbox` AS `o`
WHERE `o`.`delivered_at` IS NULL AND `o`.`parked_at` IS NULL
  AND `o`.`next_attempt_at` <= UTC_TIMESTAMP(6)
  AND (`o`.`ordering_key` IS NULL OR NOT EXISTS (
    SELECT 1 FROM `aurora_events_outbox` AS `e`
    WHERE `e`.`delivered_at` IS NULL AND `e`.`parked_at` IS NULL
      AND `e`.`ordering_key` = `o`.`ordering_key` AND `e`.`sequence` < `o`.`sequence`
      AND `e`.`target_function` = `o`.`target_function`))
ORDER BY `o`.`sequence`
LIMIT %s
FOR UPDATE;
