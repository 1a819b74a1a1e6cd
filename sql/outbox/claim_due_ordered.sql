-- claim_due.sql on an outbox with ordering keys (revision 0008): an event with a key is
-- claimed only when no earlier event of the same key and target still waits (due,
-- leased by a relay, or backing off after a failure): each key's head, never a follower.
-- A failed head so holds back its key until it is delivered or parked; other keys go on.
-- Events without a key (NULL) are claimed as before.
-- The earlier-event lookup is a range on `outbox_key_pending` (delivered_at, parked_at,
-- ordering_key, sequence) among the waiting rows; the scan itself is claim_due.sql's,
-- on `outbox_pending` (tests/functions/test_relay_order.py shows both with EXPLAIN).
-- The subquery is no locking read: it reads the statement's snapshot, which can be older
-- than the rows this locking scan finds (a head committed after the snapshot, then its
-- follower, are both found by the scan but the head not by the subquery), so the claim
-- checks its rows again in a later statement (held_back.sql) before leasing them.
-- Parameters: the largest number of rows.
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
FOR UPDATE SKIP LOCKED;
