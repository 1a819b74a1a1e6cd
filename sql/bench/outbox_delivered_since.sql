-- When each outbox event after sequence %s was delivered (NULL: not yet), in sequence
-- order: the local pipeline's delivery times (make bench).
SELECT `delivered_at` FROM `aurora_events_outbox` WHERE `sequence` > %s ORDER BY `sequence`;
