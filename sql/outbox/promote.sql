-- In the transaction that records this relay's last claimed events of some keys of one
-- target (delivered, parked, to be retried or due again): the later events other relays
-- held behind them (hold.sql: not due until this lease's end) are due at once; the next
-- claim takes them, or holds them again behind what now comes first (a retry). The
-- candidates are the
-- keys' waiting events after this lease's last one of each (promote_candidates.sql);
-- this statement keeps those of the target and makes the ones not due due now.
-- None of them is another relay's lease: this lease's claimed events of a key are all
-- its waiting events up to the last (a claim's rows of a key are a prefix of them), and
-- while some wait under this lease (the ones this transaction records, until it
-- commits), no later event of the key can be leased (held_behind.sql holds it): a later
-- event that is not due is held, never leased.
-- The rows are updated by primary key, in order, with no index range locked: a range of
-- `outbox_key_pending` locked by this statement, against another relay marking its own
-- events delivered (which locks the row, then rewrites that index), deadlocked.
-- Every candidate matches the WHERE (the new time is chosen in SET): so a row another
-- relay's claim has locked and is holding right now is waited for and read again once
-- that claim commits, and is then made due (a WHERE on `next_attempt_at` would be
-- judged on the row's last committed version, still due, and skip it: it would then wait
-- for this lease's end). A row no claim has locked yet is locked here until this commit,
-- so no claim holds it behind these events.
-- FORCE INDEX: by the waiting rows' prefix of `outbox_pending` the optimizer would read
-- (and lock) that index first, the deadlock above again.
-- ${sequences} is "%s, %s, ..."; parameters: the target, the sequences.
UPDATE `aurora_events_outbox` FORCE INDEX (PRIMARY)
SET `next_attempt_at` = LEAST(`next_attempt_at`, UTC_TIMESTAMP(6))
WHERE `delivered_at` IS NULL AND `parked_at` IS NULL AND `target_function` = %s
  AND `sequence` IN (${sequences});
