-- promote.sql's candidates, in the transaction that records this relay's last claimed
-- events of some keys (or promote_held.sql's, after it): the waiting events of those keys after the
-- lease's last claimed event of each (an earlier one this lease released may be another
-- relay's lease by now), of any target (promote.sql keeps the target's), not locked.
-- From each last event (by primary key), a range of `outbox_key_pending` read from the
-- index alone (it holds the key and the sequence). Keys are named by these sequences,
-- not listed: an IN list of 1,000 16-byte keys cost some 20 us a key (make bench).
-- Up to a sequence: the greatest any claim held (holds_settled.sql), or every later event
-- on an outbox without the hold counter.
-- ${sequences} is "%s, %s, ..."; parameters: that greatest sequence, the lease's last
-- claimed sequence of each key.
SELECT `e`.`sequence`
FROM `aurora_events_outbox` AS `o` FORCE INDEX (PRIMARY)
JOIN `aurora_events_outbox` AS `e` FORCE INDEX (`outbox_key_pending`)
  ON `e`.`delivered_at` IS NULL AND `e`.`parked_at` IS NULL
  AND `e`.`ordering_key` = `o`.`ordering_key` AND `e`.`sequence` > `o`.`sequence`
  AND `e`.`sequence` <= %s
WHERE `o`.`sequence` IN (${sequences});
