-- A claim that may hold events (waiting_up_to.sql found events outside it) adds one to
-- the hold counter before its second look (held_behind.sql), and takes it back if it held
-- nothing, in the claim's transaction: the row stays locked until the claim commits, so a
-- relay that records meanwhile waits for it (holds_settled.sql). Claims that hold run one
-- at a time through this row (each a few milliseconds).
-- Parameters: 1 or -1 (or 0: the relay's check that it may use the counter).
UPDATE `aurora_events_outbox_holds` SET `holds` = `holds` + %s WHERE `id` = 1;
