-- The claim's second look (claim_due_ordered.sql), in the claim's transaction, before
-- its rows are leased: which of them have an earlier waiting event of their key and
-- target. This statement's snapshot is taken after the scan locked its rows, and every
-- row the scan locked was committed before it (a locking read skips or waits for rows not
-- yet committed); a head is committed before its follower is even written (the user's
-- row lock orders them: the follower's UPDATE waits for the head's transaction), so every
-- earlier event of a locked row is in this snapshot. Rows named here are not leased: the
-- claim's commit lets them go, and they wait for their head.
-- ${sequences} is "%s, %s, ..."; parameters: the sequences.
SELECT `o`.`sequence`
FROM `aurora_events_outbox` AS `o`
WHERE `o`.`sequence` IN (${sequences}) AND `o`.`ordering_key` IS NOT NULL
  AND EXISTS (
    SELECT 1 FROM `aurora_events_outbox` AS `e`
    WHERE `e`.`delivered_at` IS NULL AND `e`.`parked_at` IS NULL
      AND `e`.`ordering_key` = `o`.`ordering_key` AND `e`.`sequence` < `o`.`sequence`
      AND `e`.`target_function` = `o`.`target_function`);
