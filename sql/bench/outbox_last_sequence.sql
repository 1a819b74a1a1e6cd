-- The outbox's latest sequence (0 when empty): events written later have higher ones.
SELECT COALESCE(MAX(`sequence`), 0) FROM `aurora_events_outbox`;
