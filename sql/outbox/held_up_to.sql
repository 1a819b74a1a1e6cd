-- A claim that held events (hold.sql), in its transaction, after count_holds.sql: the
-- greatest sequence held so far, so a relay's promotion looks no further
-- (holds_settled.sql). Parameters: the greatest sequence this claim held.
UPDATE `aurora_events_outbox_holds`
SET `held_up_to` = GREATEST(`held_up_to`, %s)
WHERE `id` = 1;
