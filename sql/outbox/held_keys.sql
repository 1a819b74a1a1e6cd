-- What `aurora-events outbox` adds on an outbox with ordering keys (revision 0008): events
-- held back behind an earlier waiting event of their row (same key and target), and how
-- many rows (keys and targets) are held. A parked event holds nothing back: parking
-- releases its key. Reads the waiting rows only (`outbox_key_pending`).
SELECT COUNT(*), COUNT(DISTINCT `o`.`target_function`, `o`.`ordering_key`)
FROM `aurora_events_outbox` AS `o`
WHERE `o`.`delivered_at` IS NULL AND `o`.`parked_at` IS NULL
  AND `o`.`ordering_key` IS NOT NULL
  AND EXISTS (
    SELECT 1 FROM `aurora_events_outbox` AS `e`
    WHERE `e`.`delivered_at` IS NULL AND `e`.`parked_at` IS NULL
      AND `e`.`ordering_key` = `o`.`ordering_key` AND `e`.`sequence` < `o`.`sequence`
      AND `e`.`target_function` = `o`.`target_function`);
