-- promote.sql on an outbox with the hold counter (revision 0010), after the record
-- committed (holds_settled.sql found that some claim held events meanwhile): the
-- candidates (promote_candidates.sql) held behind this lease, not due until its end
-- (hold.sql wrote the lease's token into them), due at once. Only those: the record is
-- committed, so another relay may have leased a later event of these rows by now (its own
-- token) or made it due; neither is touched. A hold still being written is not waited for
-- here: holds_settled.sql waited for every claim that counted one.
-- By primary key with no index range locked, as promote.sql (which says why).
-- ${sequences} is "%s, %s, ..."; parameters: the lease's token, the target, the sequences.
UPDATE `aurora_events_outbox` FORCE INDEX (PRIMARY)
SET `next_attempt_at` = UTC_TIMESTAMP(6)
WHERE `next_attempt_at` = %s AND `delivered_at` IS NULL AND `parked_at` IS NULL
  AND `target_function` = %s AND `sequence` IN (${sequences});
