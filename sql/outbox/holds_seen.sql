-- The hold counter (create_hold_counter.sql) as a claim sees it, in the claim's
-- transaction: a relay that records the claim's last events of some rows later compares
-- it with holds_settled.sql. A consistent read: a claim whose hold is counted in this
-- value committed before this claim did, so it held nothing behind this claim's lease.
SELECT `holds` FROM `aurora_events_outbox_holds` WHERE `id` = 1;
