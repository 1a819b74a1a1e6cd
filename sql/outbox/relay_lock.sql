-- One relay at a time where the server has no SKIP LOCKED (Aurora v2): a named lock,
-- not waited for (another relay is at work; this one has nothing to do).
SELECT GET_LOCK('aurora_events_outbox_relay', 0);
