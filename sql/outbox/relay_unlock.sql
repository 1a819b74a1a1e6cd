SELECT RELEASE_LOCK('aurora_events_outbox_relay');
