-- The relay's claim, in the sequence the events were written: due rows (neither
-- delivered nor parked, next attempt reached) that no other relay holds, with what the
-- relay needs to plan its sends without loading a payload: each payload's size in bytes,
-- and the server's clock, which starts the lease. SKIP LOCKED (MySQL 8.0.1+, MariaDB
-- 10.6+) lets relays run side by side without ever taking the same row; Aurora v2
-- (MySQL 5.7) lacks it, and runs one relay at a time instead (claim_due_locking.sql under
-- the named lock of relay_lock.sql). The relay's session is READ COMMITTED
-- (read_committed.sql): this locking read takes no gap lock, so it never holds up an
-- INSERT of a new outbox row by a user's transaction. FORCE INDEX: the waiting rows'
-- prefix of `outbox_pending` gives them in sequence order; left to itself, the optimizer
-- sometimes walked the primary key in order instead (ORDER BY ... LIMIT), reading every
-- kept (delivered) row before the first waiting one: measured in make bench's relay
-- section, a claim in six examined 80,000-266,000 rows for its 2,000 and halved the
-- relay's rate.
-- Parameters: the largest number of rows.
SELECT `sequence`, `event_id`, `target_function`, LENGTH(`payload`), `attempts`,
       UTC_TIMESTAMP(6)
FROM `aurora_events_outbox` FORCE INDEX (`outbox_pending`)
WHERE `delivered_at` IS NULL AND `parked_at` IS NULL AND `next_attempt_at` <= UTC_TIMESTAMP(6)
ORDER BY `sequence`
LIMIT %s
FOR UPDATE SKIP LOCKED;
