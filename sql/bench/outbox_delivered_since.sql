-- Each outbox event after sequence %s, in sequence order: when its lease runs out (the
-- relay's claim set it to the claim's time plus the lease) and when it was delivered
-- (NULL: not yet). The local pipeline's delivery times (make bench).
SELECT `next_attempt_at`, `delivered_at` FROM `aurora_events_outbox`
WHERE `sequence` > %s ORDER BY `sequence`;
