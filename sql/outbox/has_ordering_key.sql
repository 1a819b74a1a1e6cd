-- Whether the outbox has revision 0008's `ordering_key` (the relay then claims each key's
-- events in order: claim_due_ordered.sql); asked at each relay run, so a relay follows an
-- upgrade or a downgrade without a restart.
SELECT COUNT(*)
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'aurora_events_outbox'
  AND COLUMN_NAME = 'ordering_key';
