DROP TABLE IF EXISTS `aurora_events_outbox`;
