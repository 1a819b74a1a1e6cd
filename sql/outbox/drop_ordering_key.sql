-- Revision 0008's downgrade: the table as 0004 created it (create_outbox_table.sql).
-- Waiting events stay and are delivered unordered, as before the revision.
ALTER TABLE `aurora_events_outbox`
  DROP KEY `outbox_key_pending`,
  DROP COLUMN `ordering_key`;
