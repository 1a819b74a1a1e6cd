-- After a relay committed the record of its last claimed events of some rows (delivered,
-- parked, to be retried or due again): the hold counter, read with a shared lock, so a
-- claim that is between its count_holds.sql and its commit is waited for. If the count is
-- still the one the relay's claim saw (holds_seen.sql), nothing can wait behind these
-- events: a claim that held behind them took its second look before this record
-- committed, so it counted its hold before this read, and this read waited for it. If the
-- count moved, promote_held.sql runs, for the events up to the greatest sequence held;
-- then this is read again, until the count stays: a claim that looked before that
-- promotion committed may have held a later event behind one it made due (until the same
-- lease's end: the held event's time).
SELECT `holds`, `held_up_to` FROM `aurora_events_outbox_holds` WHERE `id` = 1
LOCK IN SHARE MODE;
