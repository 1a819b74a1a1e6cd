-- The claim's second look (claim_due_ordered.sql), in the claim's transaction, before its
-- rows are leased, when the quick look (waiting_up_to.sql) found waiting events outside it: which claimed rows have an earlier waiting event of their key and
-- target that this claim does not hold (leased by another relay, backing off after a
-- failure, or due but locked by another relay's claim), and when the earliest such event
-- is next tried (a lease's end or a backoff's; its `next_attempt_at`). Earlier events in
-- the claim are no reason to wait: the relay sends a key's claimed events in order.
-- This statement's snapshot is taken after the scan locked its rows, and every row the
-- scan locked was committed before it (a locking read skips or waits for rows not yet
-- committed); a head is committed before its follower is even written (the user's row
-- lock orders them: the follower's UPDATE waits for the head's transaction), so every
-- earlier event of a locked row is in this snapshot.
-- Each look back is the key's range of `outbox_key_pending` (delivered_at, parked_at,
-- ordering_key, sequence) among the waiting rows, read in sequence order up to the first
-- event outside the claim: never the delivered rows kept for the retention. FORCE INDEX:
-- once the kept rows grew past some 100,000, MariaDB 10.11 chose another plan for the
-- ORDER BY ... LIMIT 1 and the second look took 15 times longer (make bench).
-- ${sequences} is "%s, %s, ..."; parameters: the sequences, twice.
SELECT `o`.`sequence`,
       (SELECT `e`.`next_attempt_at`
        FROM `aurora_events_outbox` AS `e` FORCE INDEX (`outbox_key_pending`)
        WHERE `e`.`delivered_at` IS NULL AND `e`.`parked_at` IS NULL
          AND `e`.`ordering_key` = `o`.`ordering_key` AND `e`.`sequence` < `o`.`sequence`
          AND `e`.`target_function` = `o`.`target_function`
          AND `e`.`sequence` NOT IN (${sequences})
        ORDER BY `e`.`sequence`
        LIMIT 1) AS `blocked_until`
FROM `aurora_events_outbox` AS `o` FORCE INDEX (PRIMARY)
WHERE `o`.`sequence` IN (${sequences}) AND `o`.`ordering_key` IS NOT NULL
HAVING `blocked_until` IS NOT NULL;
